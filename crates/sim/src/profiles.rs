//! Customer and terminal profiles (Handbook section 3.2.1-3.2.3): positions on a 100 x 100
//! grid, spending habits, and which terminals each customer can reach.

use crate::numpy_rng::RandomState;

/// Side of the square grid customers and terminals live on.
const GRID_SIZE: f64 = 100.0;
const MEAN_AMOUNT_MIN: f64 = 5.0;
const MEAN_AMOUNT_MAX: f64 = 100.0;
/// The Handbook sets the amount spread to half the mean.
const STD_AMOUNT_PER_MEAN: f64 = 0.5;
const MEAN_TX_PER_DAY_MAX: f64 = 4.0;

#[derive(Clone, Debug, PartialEq)]
pub struct CustomerProfile {
    pub id: u32,
    pub x: f64,
    pub y: f64,
    pub mean_amount: f64,
    pub std_amount: f64,
    pub mean_nb_tx_per_day: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TerminalProfile {
    pub id: u32,
    pub x: f64,
    pub y: f64,
}

/// Customers 0..n from one `RandomState(seed)`, drawn field by field in id order.
pub fn customer_profiles(n: u32, seed: u32) -> Vec<CustomerProfile> {
    let mut rng = RandomState::new(seed);
    (0..n)
        .map(|id| {
            let x = rng.uniform(0.0, GRID_SIZE);
            let y = rng.uniform(0.0, GRID_SIZE);
            let mean_amount = rng.uniform(MEAN_AMOUNT_MIN, MEAN_AMOUNT_MAX);
            let std_amount = mean_amount * STD_AMOUNT_PER_MEAN;
            let mean_nb_tx_per_day = rng.uniform(0.0, MEAN_TX_PER_DAY_MAX);
            CustomerProfile {
                id,
                x,
                y,
                mean_amount,
                std_amount,
                mean_nb_tx_per_day,
            }
        })
        .collect()
}

/// Terminals 0..n from one `RandomState(seed)`.
pub fn terminal_profiles(n: u32, seed: u32) -> Vec<TerminalProfile> {
    let mut rng = RandomState::new(seed);
    (0..n)
        .map(|id| {
            let x = rng.uniform(0.0, GRID_SIZE);
            let y = rng.uniform(0.0, GRID_SIZE);
            TerminalProfile { id, x, y }
        })
        .collect()
}

/// Ids of the terminals at Euclidean distance strictly below `radius`, ascending. The
/// distance is computed as numpy does (`sqrt(dx² + dy²)`, each step rounded) so terminals
/// right on the edge fall on the same side.
pub fn terminals_within_radius(
    customer: &CustomerProfile,
    terminals: &[TerminalProfile],
    radius: f64,
) -> Vec<u32> {
    terminals
        .iter()
        // Cheap reject first, exact because sqrt(fl(x * x)) == |x| in binary floating point:
        // a coordinate gap of `radius` or more can never come out below it.
        .filter(|t| (customer.x - t.x).abs() < radius && (customer.y - t.y).abs() < radius)
        .filter(|t| {
            let (dx, dy) = (customer.x - t.x, customer.y - t.y);
            (dx * dx + dy * dy).sqrt() < radius
        })
        .map(|t| t.id)
        .collect()
}
