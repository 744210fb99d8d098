"""Cross-checks crates/sim, the Handbook transaction simulator, against live numpy, pandas
and CPython: every random primitive on random seeds, and whole small simulator runs
against the Handbook's own Python code (chapter 3.2), byte for byte as CSV.

The oracle runs in its own venv, .venv-sim at the repository root, with numpy 1.24.4 and
pandas 2.0.3 pinned. Why not the newest numpy: from 1.25 on, `argsort(kind="quicksort")`
goes to x86-simd-sort on AVX-512 CPUs (2.x on AVX2 too), which leaves transactions sharing
a second in a different order than the introsort that produced the Handbook's published
dataset, so TRANSACTION_IDs would differ. The legacy RandomState streams themselves are
identical in every numpy version.

Run: `.venv/bin/pytest conformance/test_sim.py`. The file doubles as the oracle:
`.venv-sim/bin/python conformance/test_sim.py` answers the same line requests as the Rust
example `sim_probe`. Seeds come from SIM_CONFORMANCE_SEED (random if unset) and are in
every failure message.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-sim"
VENV_PYTHON = VENV / "bin" / "python"
ORACLE_PINS = ["numpy==1.24.4", "pandas==2.0.3", "pytest==8.3.5"]
META_SEED = int(os.environ.get("SIM_CONFORMANCE_SEED", random.randrange(2**32)))
CASES_PER_OP = 12
PIPELINE_RUNS = 3


# ---------------------------------------------------------------- oracle side (venv-sim)

def handbook_csv(n_customers, n_terminals, nb_days, customer_seed, terminal_seed, out):
    """The Handbook's generate_dataset + add_frauds, as published, seeds made parameters."""
    import numpy as np
    import pandas as pd

    def customer_profiles():
        np.random.seed(customer_seed)
        rows = []
        for customer_id in range(n_customers):
            x = np.random.uniform(0, 100)
            y = np.random.uniform(0, 100)
            mean_amount = np.random.uniform(5, 100)
            std_amount = mean_amount / 2
            mean_nb_tx_per_day = np.random.uniform(0, 4)
            rows.append([customer_id, x, y, mean_amount, std_amount, mean_nb_tx_per_day])
        return pd.DataFrame(rows, columns=['CUSTOMER_ID', 'x_customer_id', 'y_customer_id',
                                           'mean_amount', 'std_amount', 'mean_nb_tx_per_day'])

    def terminal_profiles():
        np.random.seed(terminal_seed)
        rows = [[i, np.random.uniform(0, 100), np.random.uniform(0, 100)]
                for i in range(n_terminals)]
        return pd.DataFrame(rows, columns=['TERMINAL_ID', 'x_terminal_id', 'y_terminal_id'])

    def within_radius(profile, x_y_terminals, r):
        y_customer = profile[['x_customer_id', 'y_customer_id']].values.astype(float)
        dist = np.sqrt(np.sum(np.square(y_customer - x_y_terminals), axis=1))
        return list(np.where(dist < r)[0])

    def transactions(profile):
        rows = []
        random.seed(int(profile.CUSTOMER_ID))
        np.random.seed(int(profile.CUSTOMER_ID))
        for day in range(nb_days):
            nb_tx = np.random.poisson(profile.mean_nb_tx_per_day)
            for _ in range(nb_tx):
                time_tx = int(np.random.normal(86400 / 2, 20000))
                if 0 < time_tx < 86400:
                    amount = np.random.normal(profile.mean_amount, profile.std_amount)
                    if amount < 0:
                        amount = np.random.uniform(0, profile.mean_amount * 2)
                    amount = np.round(amount, decimals=2)
                    if len(profile.available_terminals) > 0:
                        terminal_id = random.choice(profile.available_terminals)
                        rows.append([time_tx + day * 86400, day, profile.CUSTOMER_ID,
                                     terminal_id, amount])
        df = pd.DataFrame(rows, columns=['TX_TIME_SECONDS', 'TX_TIME_DAYS', 'CUSTOMER_ID',
                                         'TERMINAL_ID', 'TX_AMOUNT'])
        if len(df) > 0:
            df['TX_DATETIME'] = pd.to_datetime(df['TX_TIME_SECONDS'], unit='s',
                                               origin='2018-04-01')
            df = df[['TX_DATETIME', 'CUSTOMER_ID', 'TERMINAL_ID', 'TX_AMOUNT',
                     'TX_TIME_SECONDS', 'TX_TIME_DAYS']]
        return df

    customers = customer_profiles()
    terminals = terminal_profiles()
    x_y = terminals[['x_terminal_id', 'y_terminal_id']].values.astype(float)
    customers['available_terminals'] = customers.apply(
        lambda x: within_radius(x, x_y, 5), axis=1)
    tx = customers.groupby('CUSTOMER_ID').apply(
        lambda x: transactions(x.iloc[0])).reset_index(drop=True)
    tx = tx.sort_values('TX_DATETIME')
    tx.reset_index(inplace=True, drop=True)
    tx.reset_index(inplace=True)
    tx.rename(columns={'index': 'TRANSACTION_ID'}, inplace=True)

    tx['TX_FRAUD'] = 0
    tx['TX_FRAUD_SCENARIO'] = 0
    tx.loc[tx.TX_AMOUNT > 220, 'TX_FRAUD'] = 1
    tx.loc[tx.TX_AMOUNT > 220, 'TX_FRAUD_SCENARIO'] = 1
    for day in range(tx.TX_TIME_DAYS.max()):
        compromised = terminals.TERMINAL_ID.sample(n=2, random_state=day)
        hit = tx[(tx.TX_TIME_DAYS >= day) & (tx.TX_TIME_DAYS < day + 28)
                 & (tx.TERMINAL_ID.isin(compromised))]
        tx.loc[hit.index, 'TX_FRAUD'] = 1
        tx.loc[hit.index, 'TX_FRAUD_SCENARIO'] = 2
    for day in range(tx.TX_TIME_DAYS.max()):
        compromised = customers.CUSTOMER_ID.sample(n=3, random_state=day).values
        hit = tx[(tx.TX_TIME_DAYS >= day) & (tx.TX_TIME_DAYS < day + 14)
                 & (tx.CUSTOMER_ID.isin(compromised))]
        random.seed(day)
        picked = random.sample(list(hit.index.values), k=int(len(hit) / 3))
        tx.loc[picked, 'TX_AMOUNT'] = tx.loc[picked, 'TX_AMOUNT'] * 5
        tx.loc[picked, 'TX_FRAUD'] = 1
        tx.loc[picked, 'TX_FRAUD_SCENARIO'] = 3

    tx[['TRANSACTION_ID', 'TX_DATETIME', 'CUSTOMER_ID', 'TERMINAL_ID', 'TX_AMOUNT',
        'TX_TIME_SECONDS', 'TX_TIME_DAYS', 'TX_FRAUD', 'TX_FRAUD_SCENARIO']].to_csv(
        out, index=False, float_format='%.2f', date_format='%Y-%m-%d %H:%M:%S',
        lineterminator='\n')


def oracle_answer(op, args):
    """One request of sim_probe's line protocol, answered by numpy / pandas / CPython."""
    import numpy as np
    import pandas as pd

    f = [float(a) for a in args]
    i = [int(a) if a.lstrip("-").isdigit() else None for a in args]
    if op.startswith("np_"):
        rs = np.random.RandomState(i[0])
    else:
        r = random.Random(i[0])
    if op == "np_sample":
        return [repr(float(x)) for x in rs.random_sample(i[1])]
    if op == "np_uniform":
        return [repr(float(rs.uniform(f[1], f[2]))) for _ in range(i[3])]
    if op == "np_normal":
        return [repr(float(rs.normal(f[1], f[2]))) for _ in range(i[3])]
    if op == "np_poisson":
        return [str(int(rs.poisson(f[1]))) for _ in range(i[2])]
    if op == "np_mixed":
        out = []
        for _ in range(i[4]):
            out += [str(int(rs.poisson(f[1]))), repr(float(rs.normal(f[2], f[3]))),
                    repr(float(rs.uniform(0, f[2])))]
        return out
    if op == "np_permutation":
        return [str(int(x)) for x in rs.permutation(i[1])]
    if op == "pd_sample":
        picks = pd.Series(range(i[1])).sample(n=i[2], random_state=i[0]).values
        return [str(int(x)) for x in picks]
    if op == "py_random":
        return [repr(r.random()) for _ in range(i[1])]
    if op == "py_getrandbits":
        return [str(r.getrandbits(i[1])) for _ in range(i[2])]
    if op == "py_randbelow":
        return [str(r._randbelow(i[1])) for _ in range(i[2])]
    if op == "py_choice":
        items = list(range(i[1]))
        return [str(r.choice(items)) for _ in range(i[2])]
    if op == "py_sample":
        return [str(x) for x in r.sample(list(range(i[1])), i[2])]
    if op == "py_uniform":
        return [repr(r.uniform(f[1], f[2])) for _ in range(i[3])]
    raise ValueError(f"unknown op {op}")


def oracle_main(argv):
    if argv and argv[0] == "versions":
        import numpy
        import pandas
        print(json.dumps({"numpy": numpy.__version__, "pandas": pandas.__version__,
                          "python": sys.version.split()[0]}))
    elif argv and argv[0] == "handbook":
        handbook_csv(*(int(a) for a in argv[1:6]), out=sys.stdout)
    else:
        for line in sys.stdin:
            words = line.split()
            if words:
                print(" ".join(oracle_answer(words[0], words[1:])))


# ---------------------------------------------------------------- test side (pytest)

@pytest.fixture(scope="session")
def oracle_python():
    try:
        if not VENV_PYTHON.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *ORACLE_PINS],
                       check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"cannot install the numpy/pandas oracle {ORACLE_PINS} into {VENV}: {e}")
    versions = subprocess.run([str(VENV_PYTHON), __file__, "versions"], check=True,
                              capture_output=True, text=True).stdout
    print(f"oracle: {versions.strip()}, meta seed {META_SEED}")
    return VENV_PYTHON


@pytest.fixture(scope="session")
def probe():
    """Builds the Rust side (examples/sim_probe.rs) and returns its path."""
    build = subprocess.run(
        ["cargo", "build", "--quiet", "-p", "sim", "--example", "sim_probe",
         "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True)
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if message.get("target", {}).get("name") == "sim_probe" and message.get("executable"):
            return message["executable"]
    raise AssertionError("cargo did not report the sim_probe executable")


def requests(rng):
    """Random requests covering every primitive; seeds span the whole 32-bit range."""
    seed32 = lambda: rng.randrange(2**32)
    out = []
    for _ in range(CASES_PER_OP):
        lam_small = rng.uniform(0, 9.99)
        lam_big = rng.choice([10.0, rng.uniform(10, 60), rng.uniform(60, 5000)])
        mean = rng.uniform(5, 100)
        py_seed = rng.choice([rng.randrange(10**4), rng.randrange(2**63), -rng.randrange(2**40)])
        out += [
            f"np_sample {seed32()} 1000",
            f"np_uniform {seed32()} {rng.uniform(-50, 50)!r} {rng.uniform(50, 150)!r} 200",
            f"np_normal {seed32()} {rng.uniform(-1e4, 1e5)!r} {rng.uniform(0.1, 3e4)!r} 301",
            f"np_poisson {seed32()} {lam_small!r} 500",
            f"np_poisson {seed32()} {lam_big!r} 300",
            f"np_mixed {seed32()} {lam_small!r} {mean!r} {mean / 2!r} 200",
            f"np_permutation {seed32()} {rng.randrange(1, 3000)}",
            f"pd_sample {rng.randrange(400)} {rng.randrange(3, 20000)} 3",
            f"py_random {py_seed} 500",
            f"py_getrandbits {py_seed} {rng.randrange(0, 65)} 100",
            f"py_randbelow {py_seed} {rng.choice([1, 2, 3, rng.randrange(1, 2**63)])} 100",
            f"py_choice {py_seed} {rng.randrange(1, 500)} 100",
            f"py_sample {py_seed} {rng.randrange(0, 3000)} 0",
            f"py_uniform {py_seed} {rng.uniform(-10, 10)!r} {rng.uniform(10, 1000)!r} 100",
        ]
        n = rng.randrange(1, 3000)
        out.append(f"py_sample {py_seed} {n} {rng.randrange(0, n + 1)}")
        n = rng.randrange(1, 200)
        out.append(f"py_sample {py_seed} {n} {rng.randrange(0, n + 1)}")
    return out


def answers(command, reqs):
    run = subprocess.run(command, input="\n".join(reqs) + "\n", check=True,
                         capture_output=True, text=True)
    return run.stdout.splitlines()


def parse(values):
    # Floats compare exactly as values; Rust and Python differ only in exponent spelling.
    return [float(v) if any(c in v for c in ".en") else int(v) for v in values.split()]


def test_random_primitives_match_numpy_pandas_cpython(oracle_python, probe):
    reqs = requests(random.Random(META_SEED))
    expected = answers([str(oracle_python), __file__], reqs)
    got = answers([probe], reqs)
    assert len(got) == len(expected) == len(reqs)
    assert sum(len(parse(line)) for line in expected) > 50_000, "oracle answered too little"
    for req, want, have in zip(reqs, expected, got):
        assert parse(have) == parse(want), f"meta seed {META_SEED}, request {req!r}"


def test_small_runs_match_handbook_code_byte_for_byte(oracle_python, probe):
    rng = random.Random(META_SEED)
    for _ in range(PIPELINE_RUNS):
        config = [str(v) for v in (rng.randrange(50, 400), rng.randrange(100, 2500),
                                   rng.randrange(20, 60), rng.randrange(2**32),
                                   rng.randrange(2**32))]
        want = subprocess.run([str(oracle_python), __file__, "handbook", *config],
                              check=True, capture_output=True, text=True).stdout
        have = subprocess.run([probe, "handbook", *config], check=True,
                              capture_output=True, text=True).stdout
        assert have.count("\n") > 1000, f"run too small to mean anything: {config}"
        if have != want:
            first = next(n for n, (a, b) in enumerate(zip(have.splitlines(),
                                                          want.splitlines())) if a != b)
            raise AssertionError(f"meta seed {META_SEED}, config {config}: line {first + 1}: "
                                 f"{have.splitlines()[first]!r} != {want.splitlines()[first]!r}")


if __name__ == "__main__":
    oracle_main(sys.argv[1:])
