//! The main demonstration: frames moved through the simulated NIC.
fn main() {
    println!(
        "nic family: workspace builds; the simulated NIC demonstration is built on nic-sim's software NIC."
    );
}
