//! The reference message of the codec benchmarks: an 0200 in posguard-ascii, 208 bytes
//! (the same values as `scripts/bench-pyiso8583.py`). Shared by the bench targets.

pub const FIELDS: &[(u8, &str)] = &[
    (2, "4761739001010010"),
    (3, "000000"),
    (4, "000000012500"),
    (7, "1121230101"),
    (11, "000123"),
    (12, "230101"),
    (13, "1121"),
    (14, "2812"),
    (22, "051"),
    (25, "00"),
    (35, "4761739001010010=28122011143844400000"),
    (37, "000000000123"),
    (41, "TERM0001"),
    (42, "MERCHANT0000001"),
    (43, "ACME STORE                              "),
    (49, "156"),
];
