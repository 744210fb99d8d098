//! Points on the Earth as integers, and the distance between two of them in whole
//! metres, computed the same way on every machine.
//!
//! Stored formats carry integers only: latitude and longitude in microdegrees (degrees x
//! 10^6; one unit is at most 0.11 m). The distance is the haversine great-circle distance
//! on a sphere of radius [`EARTH_RADIUS_M`], rounded to the metre; the sphere is within
//! 0.5% of the WGS 84 ellipsoid, far below what a terminal's reported position is worth.
//!
//! Why not `f64::sin`: std's `sin`, `cos` and `asin` call the platform's libm, whose last
//! bit may differ between platforms and versions, and a replay on another machine must
//! give the same features. Here every step is `+ - * /` or `sqrt`, which IEEE 754 rounds
//! exactly, in a fixed order (Rust never fuses them into a multiply-add on its own):
//! truncated Taylor series on reduced arguments, accurate to a few units in the last
//! place, far below a metre.

use serde::{Deserialize, Serialize};

use crate::features::config::MS_PER_SECOND;

/// The IUGG mean Earth radius R1 = (2a + b) / 3 of the WGS 84 ellipsoid, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Latitudes run from -90 to 90 degrees.
pub const LAT_E6_MAX: i32 = 90_000_000;
/// Longitudes run from -180 to 180 degrees.
pub const LON_E6_MAX: i32 = 180_000_000;
/// The longest distance [`GeoPoint::distance_m`] returns: half a great circle.
pub const DISTANCE_MAX_M: u32 = 20_015_114;

const E6_PER_TURN: i64 = 360_000_000;
const RADIANS_PER_E6: f64 = std::f64::consts::PI / 180_000_000.0;
/// An elapsed time below this counts as this much in a speed: terminal clocks and ISO
/// 8583 times have whole seconds, so two transactions in the same second are not
/// infinitely fast.
pub const SPEED_ELAPSED_MIN_MS: i64 = MS_PER_SECOND;
const MS_PER_HOUR_PER_KM: u64 = 3_600;

/// A position, microdegrees (WGS 84).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoPoint {
    /// -90_000_000 (south pole) ..= 90_000_000 (north pole).
    pub lat_e6: i32,
    /// -180_000_000 (west) ..= 180_000_000 (east).
    pub lon_e6: i32,
}

/// An area a terminal is registered to work in: a centre and a radius.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoArea {
    pub center: GeoPoint,
    pub radius_m: u32,
}

impl GeoPoint {
    /// A point, `None` when a coordinate is out of range.
    pub fn new(lat_e6: i32, lon_e6: i32) -> Option<GeoPoint> {
        let ok = lat_e6.abs() <= LAT_E6_MAX && lon_e6.abs() <= LON_E6_MAX;
        ok.then_some(GeoPoint { lat_e6, lon_e6 })
    }

    /// Great-circle distance in whole metres, `0..=DISTANCE_MAX_M`. Total: a latitude
    /// beyond a pole counts as the pole, longitudes wrap around.
    pub fn distance_m(self, other: GeoPoint) -> u32 {
        let clamp = |lat: i32| lat.clamp(-LAT_E6_MAX, LAT_E6_MAX);
        let (lat1, lat2) = (clamp(self.lat_e6), clamp(other.lat_e6));
        let dlat = i64::from(lat2) - i64::from(lat1);
        let mut dlon = (i64::from(other.lon_e6) - i64::from(self.lon_e6)).rem_euclid(E6_PER_TURN);
        if dlon > E6_PER_TURN / 2 {
            dlon -= E6_PER_TURN;
        }
        // Every argument below is within [-pi/2, pi/2], where the series converge fast.
        let half = |e6: i64| e6 as f64 * (RADIANS_PER_E6 / 2.0);
        let radians = |e6: i32| f64::from(e6) * RADIANS_PER_E6;
        let s_lat = sin(half(dlat));
        let s_lon = sin(half(dlon));
        let a = s_lat * s_lat + cos(radians(lat1)) * cos(radians(lat2)) * (s_lon * s_lon);
        let a = a.clamp(0.0, 1.0);
        let central = 2.0 * atan2_nonneg(a.sqrt(), (1.0 - a).sqrt());
        let m = (EARTH_RADIUS_M * central).round();
        // In range by construction; `as` saturates anyway.
        (m as u32).min(DISTANCE_MAX_M)
    }
}

/// The speed that covers `distance_m` in `elapsed_ms`, km/h rounded down; elapsed times
/// under [`SPEED_ELAPSED_MIN_MS`] (or negative) count as that.
pub fn speed_kmh(distance_m: u32, elapsed_ms: i64) -> u32 {
    let elapsed = elapsed_ms.max(SPEED_ELAPSED_MIN_MS).unsigned_abs();
    let kmh = u64::from(distance_m) * MS_PER_HOUR_PER_KM / elapsed;
    u32::try_from(kmh).unwrap_or(u32::MAX)
}

/// 1 / ((2k)(2k+1)) for k = 1..=10: sin x = x(1 - x²/6(1 - x²/20(1 - ...))).
const SIN_STEPS: [f64; 10] = [
    1.0 / 6.0,
    1.0 / 20.0,
    1.0 / 42.0,
    1.0 / 72.0,
    1.0 / 110.0,
    1.0 / 156.0,
    1.0 / 210.0,
    1.0 / 272.0,
    1.0 / 342.0,
    1.0 / 420.0,
];

/// 1 / ((2k-1)(2k)) for k = 1..=11: cos x = 1 - x²/2(1 - x²/12(1 - ...)).
const COS_STEPS: [f64; 11] = [
    1.0 / 2.0,
    1.0 / 12.0,
    1.0 / 30.0,
    1.0 / 56.0,
    1.0 / 90.0,
    1.0 / 132.0,
    1.0 / 182.0,
    1.0 / 240.0,
    1.0 / 306.0,
    1.0 / 380.0,
    1.0 / 462.0,
];

/// `1 - x²·s1(1 - x²·s2(1 - ...))`, innermost first.
fn nested(x2: f64, steps: &[f64]) -> f64 {
    steps.iter().rev().fold(1.0, |acc, s| 1.0 - x2 * s * acc)
}

/// sin x for |x| <= pi/2 (the first omitted term is below 2e-18).
fn sin(x: f64) -> f64 {
    x * nested(x * x, &SIN_STEPS)
}

/// cos x for |x| <= pi/2 (the first omitted term is below 1e-19).
fn cos(x: f64) -> f64 {
    nested(x * x, &COS_STEPS)
}

const SQRT_3: f64 = 1.732_050_807_568_877_2;
/// tan(pi/12): above it, atan is shifted by pi/6 to bring its argument below it.
const TAN_PI_12: f64 = 2.0 - SQRT_3;
/// Terms of the atan series kept: |u| <= tan(pi/12) makes the next one below 1e-18.
const ATAN_TERMS: u32 = 15;

/// atan2(y, x) for x, y >= 0 (not both 0), in [0, pi/2].
fn atan2_nonneg(y: f64, x: f64) -> f64 {
    if y > x {
        std::f64::consts::FRAC_PI_2 - atan_unit(x / y)
    } else if x > 0.0 {
        atan_unit(y / x)
    } else {
        0.0
    }
}

/// atan z for z in [0, 1].
fn atan_unit(z: f64) -> f64 {
    if z > TAN_PI_12 {
        // atan z = pi/6 + atan((z·sqrt3 - 1) / (z + sqrt3)), whose argument is <= tan(pi/12).
        std::f64::consts::FRAC_PI_6 + atan_small((z * SQRT_3 - 1.0) / (z + SQRT_3))
    } else {
        atan_small(z)
    }
}

/// atan u = u(1 - u²/3 + u⁴/5 - ...) for |u| <= tan(pi/12).
fn atan_small(u: f64) -> f64 {
    let u2 = u * u;
    let acc = (0..ATAN_TERMS)
        .rev()
        .fold(0.0, |acc, k| 1.0 / f64::from(2 * k + 1) - u2 * acc);
    u * acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        let e6 = |d: f64| (d * 1e6).round() as i32;
        GeoPoint::new(e6(lat), e6(lon)).unwrap()
    }

    /// Latitude and longitude, degrees.
    type Degrees = (f64, f64);

    /// (from, to, published great-circle distance in km)
    const CITIES: [(Degrees, Degrees, f64); 5] = [
        // Beijing (Tiananmen) - Shanghai (People's Square)
        ((39.9042, 116.4074), (31.2304, 121.4737), 1067.0),
        // London - Paris
        ((51.5074, -0.1278), (48.8566, 2.3522), 343.5),
        // New York - Los Angeles
        ((40.7128, -74.0060), (34.0522, -118.2437), 3936.0),
        // Guangzhou - Shenzhen
        ((23.1291, 113.2644), (22.5431, 114.0579), 104.0),
        // Sydney - Santiago (across the date line)
        ((-33.8688, 151.2093), (-33.4489, -70.6693), 11_340.0),
    ];

    #[test]
    fn known_city_distances_within_one_percent() {
        for (a, b, km) in CITIES {
            let d = f64::from(p(a.0, a.1).distance_m(p(b.0, b.1))) / 1000.0;
            assert!(
                (d - km).abs() <= km * 0.01,
                "{a:?} -> {b:?}: {d} km, expected {km}"
            );
            assert_eq!(
                p(a.0, a.1).distance_m(p(b.0, b.1)),
                p(b.0, b.1).distance_m(p(a.0, a.1))
            );
        }
    }

    #[test]
    fn exact_values_on_the_sphere() {
        let o = GeoPoint::new(0, 0).unwrap();
        // pi/2 · R and pi · R, rounded.
        assert_eq!(
            o.distance_m(GeoPoint::new(LAT_E6_MAX, 0).unwrap()),
            10_007_557
        );
        assert_eq!(
            o.distance_m(GeoPoint::new(0, LON_E6_MAX).unwrap()),
            DISTANCE_MAX_M
        );
        assert_eq!(
            o.distance_m(GeoPoint::new(0, -LON_E6_MAX).unwrap()),
            DISTANCE_MAX_M
        );
        // One degree of the equator: pi/180 · R = 111,195.08 m.
        assert_eq!(o.distance_m(GeoPoint::new(0, 1_000_000).unwrap()), 111_195);
        // One microdegree rounds to 0; ten to 1 m.
        assert_eq!(o.distance_m(GeoPoint::new(1, 0).unwrap()), 0);
        assert_eq!(o.distance_m(GeoPoint::new(10, 0).unwrap()), 1);
        assert_eq!(o.distance_m(o), 0);
        // Both poles are points: longitude does not matter there.
        let pole = GeoPoint::new(LAT_E6_MAX, 17).unwrap();
        assert_eq!(
            pole.distance_m(GeoPoint::new(LAT_E6_MAX, -123_000_000).unwrap()),
            0
        );
    }

    #[test]
    fn out_of_range_coordinates_are_rejected_or_handled() {
        assert!(GeoPoint::new(LAT_E6_MAX + 1, 0).is_none());
        assert!(GeoPoint::new(0, -LON_E6_MAX - 1).is_none());
        // Fields are public, so any i32 may reach the distance: it clamps and wraps.
        let wild = GeoPoint {
            lat_e6: i32::MAX,
            lon_e6: i32::MIN,
        };
        let north = GeoPoint::new(LAT_E6_MAX, 0).unwrap();
        assert_eq!(wild.distance_m(north), 0);
        let wrapped = GeoPoint {
            lat_e6: 0,
            lon_e6: 360_000_000 + 5,
        };
        assert_eq!(wrapped.distance_m(GeoPoint::new(0, 5).unwrap()), 0);
        let extreme = GeoPoint {
            lat_e6: i32::MIN,
            lon_e6: i32::MAX,
        };
        assert!(extreme.distance_m(wild) <= DISTANCE_MAX_M);
    }

    #[test]
    fn series_agree_with_std_to_a_few_ulps() {
        let h = std::f64::consts::FRAC_PI_2;
        for i in -1000..=1000 {
            let x = h * f64::from(i) / 1000.0;
            assert!((sin(x) - x.sin()).abs() <= 4e-16, "sin {x}");
            assert!((cos(x) - x.cos()).abs() <= 4e-16, "cos {x}");
        }
        for i in 0..=2000 {
            let y = f64::from(i) / 1000.0;
            assert!(
                (atan2_nonneg(y, 1.0) - y.atan2(1.0)).abs() <= 4e-16,
                "atan {y}"
            );
            assert!(
                (atan2_nonneg(1.0, y) - 1f64.atan2(y)).abs() <= 4e-16,
                "atan {y}"
            );
        }
    }

    #[test]
    fn distances_match_a_std_haversine_to_the_metre() {
        let std_m = |a: GeoPoint, b: GeoPoint| {
            let r = |e6: i32| f64::from(e6).to_radians() / 1e6;
            let (la1, la2) = (r(a.lat_e6), r(b.lat_e6));
            let (dla, dlo) = (la2 - la1, r(b.lon_e6) - r(a.lon_e6));
            let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
            2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            // xorshift: spread points over the globe, and pairs close together.
            let mut next = |m: i64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % (2 * m as u64 + 1)) as i64 - m
            };
            let a = GeoPoint {
                lat_e6: next(89_000_000) as i32,
                lon_e6: next(179_000_000) as i32,
            };
            let b = GeoPoint {
                lat_e6: (i64::from(a.lat_e6) + next(1_000_000)) as i32,
                lon_e6: next(179_000_000) as i32,
            };
            let c = GeoPoint {
                lat_e6: b.lat_e6,
                lon_e6: (i64::from(a.lon_e6) + next(50_000)) as i32,
            };
            for (u, v) in [(a, b), (a, c)] {
                let want = std_m(u, v);
                let got = f64::from(u.distance_m(v));
                assert!((got - want).abs() <= 1.0, "{u:?} {v:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn speed_is_integer_km_per_hour_with_a_one_second_floor() {
        assert_eq!(speed_kmh(1_067_000, 3_600_000), 1_067);
        assert_eq!(speed_kmh(1_067_000, 2 * 3_600_000), 533);
        assert_eq!(speed_kmh(250, 1_000), 900);
        assert_eq!(speed_kmh(250, 0), 900);
        assert_eq!(speed_kmh(250, -5_000), 900);
        assert_eq!(speed_kmh(0, 0), 0);
        assert_eq!(speed_kmh(DISTANCE_MAX_M, 1), 72_054_410);
    }
}
