//! Test driver for `conformance/test_sim.py`, which runs the same requests through numpy,
//! pandas and CPython and compares.
//!
//! `sim_probe handbook CUSTOMERS TERMINALS DAYS CUSTOMER_SEED TERMINAL_SEED` writes that
//! run's CSV to stdout. Without arguments it reads one request per line from stdin,
//! "<op> <args...>", and answers each with one line of space-separated values.

use std::io::{self, BufRead, BufWriter, Write};

use sim::numpy_rng::RandomState;
use sim::py_random::PyRandom;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = BufWriter::new(io::stdout().lock());
    if args.first().map(String::as_str) == Some("handbook") {
        return handbook(&args[1..], stdout);
    }
    let mut out = stdout;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&op, rest)) = words.split_first() else {
            continue;
        };
        let values = answer(op, rest).map_err(|e| format!("request {line:?}: {e}"))?;
        writeln!(out, "{}", values.join(" "))?;
    }
    out.flush()?;
    Ok(())
}

fn handbook(args: &[String], out: impl Write) -> Result<(), Error> {
    let [customers, terminals, days, customer_seed, terminal_seed] = args else {
        return Err("handbook needs CUSTOMERS TERMINALS DAYS CUSTOMER_SEED TERMINAL_SEED".into());
    };
    let cfg = sim::HandbookConfig {
        customers: customers.parse()?,
        terminals: terminals.parse()?,
        days: days.parse()?,
        customer_seed: customer_seed.parse()?,
        terminal_seed: terminal_seed.parse()?,
        ..Default::default()
    };
    sim::write_csv(out, cfg.start_date, &sim::generate(&cfg))?;
    Ok(())
}

fn arg<T: std::str::FromStr>(args: &[&str], i: usize) -> Result<T, Error>
where
    T::Err: std::error::Error + 'static,
{
    let text = args.get(i).ok_or_else(|| format!("missing argument {i}"))?;
    Ok(text.parse()?)
}

fn repeat<T: ToString>(n: usize, mut draw: impl FnMut() -> T) -> Vec<String> {
    (0..n).map(|_| draw().to_string()).collect()
}

fn float(x: f64) -> String {
    format!("{x:?}")
}

fn answer(op: &str, a: &[&str]) -> Result<Vec<String>, Error> {
    Ok(match op {
        "np_sample" => {
            let mut rs = RandomState::new(arg(a, 0)?);
            repeat(arg(a, 1)?, || float(rs.random_sample()))
        }
        "np_uniform" => {
            let (mut rs, low, high) = (RandomState::new(arg(a, 0)?), arg(a, 1)?, arg(a, 2)?);
            repeat(arg(a, 3)?, || float(rs.uniform(low, high)))
        }
        "np_normal" => {
            let (mut rs, loc, scale) = (RandomState::new(arg(a, 0)?), arg(a, 1)?, arg(a, 2)?);
            repeat(arg(a, 3)?, || float(rs.normal(loc, scale)))
        }
        "np_poisson" => {
            let (mut rs, lam) = (RandomState::new(arg(a, 0)?), arg(a, 1)?);
            repeat(arg(a, 2)?, || rs.poisson(lam))
        }
        "np_mixed" => {
            // poisson, normal, uniform in turn: the normal cache must survive the others.
            let mut rs = RandomState::new(arg(a, 0)?);
            let (lam, loc, scale): (f64, f64, f64) = (arg(a, 1)?, arg(a, 2)?, arg(a, 3)?);
            let n: usize = arg(a, 4)?;
            (0..n)
                .flat_map(|_| {
                    let k = rs.poisson(lam).to_string();
                    [k, float(rs.normal(loc, scale)), float(rs.uniform(0.0, loc))]
                })
                .collect()
        }
        "np_permutation" => {
            let (mut rs, n) = (RandomState::new(arg(a, 0)?), arg(a, 1)?);
            rs.permutation(n).iter().map(usize::to_string).collect()
        }
        "pd_sample" => {
            let (seed, len, n) = (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            let positions = RandomState::pandas_sample_positions(seed, len, n);
            positions.iter().map(usize::to_string).collect()
        }
        "py_random" => {
            let mut r = PyRandom::new(arg(a, 0)?);
            repeat(arg(a, 1)?, || float(r.random()))
        }
        "py_getrandbits" => {
            let (mut r, k) = (PyRandom::new(arg(a, 0)?), arg(a, 1)?);
            repeat(arg(a, 2)?, || r.getrandbits(k))
        }
        "py_randbelow" => {
            let (mut r, bound) = (PyRandom::new(arg(a, 0)?), arg(a, 1)?);
            repeat(arg(a, 2)?, || r.randbelow(bound))
        }
        "py_choice" => {
            let (mut r, len): (PyRandom, u64) = (PyRandom::new(arg(a, 0)?), arg(a, 1)?);
            let items: Vec<u64> = (0..len).collect();
            repeat(arg(a, 2)?, || r.choice(&items).copied().unwrap_or(u64::MAX))
        }
        "py_sample" => {
            let (mut r, len): (PyRandom, u64) = (PyRandom::new(arg(a, 0)?), arg(a, 1)?);
            let items: Vec<u64> = (0..len).collect();
            let picks = r
                .sample(&items, arg(a, 2)?)
                .ok_or("k larger than population")?;
            picks.iter().map(u64::to_string).collect()
        }
        "py_uniform" => {
            let (mut r, low, high) = (PyRandom::new(arg(a, 0)?), arg(a, 1)?, arg(a, 2)?);
            repeat(arg(a, 3)?, || float(r.uniform(low, high)))
        }
        _ => return Err(format!("unknown op {op}").into()),
    })
}
