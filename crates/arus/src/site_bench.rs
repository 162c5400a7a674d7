//! `arus bench site`: how close live load management came to the best division of a site's
//! capacity, from a simulator run with car models (its summary's `cars`).
//!
//! The best division is computed here with perfect knowledge and no delay: the same cars, on
//! the same EVSEs, arriving and leaving when they did, are divided max-min fairly every
//! `step` simulated seconds by the same allocator, each offered exactly what it can take (its
//! own maximum as its battery fills), and charged as the simulator charges them. When not
//! every car's minimum fits, the cars are admitted as live load management admits them, first
//! come, first served, so that the comparison measures how closely the division was followed,
//! not which cars an arbitrary order would have paused. Each car's
//! energy is compared with what it got in that run; the target is within 5 %.

use std::path::PathBuf;

use anyhow::Context;
use arus_domain::sites::{Site, SiteSession};
use arus_sim::CarSession;
use arus_sim::ev::Car;
use clap::Args;
use serde::Serialize;

/// Settings of `arus bench site`.
#[derive(Debug, Args)]
pub(crate) struct SiteArgs {
    /// The site (the JSON `POST /api/v1/sites` took).
    #[arg(long)]
    site: PathBuf,
    /// The simulator's summary (`arus sim --json`) of a run with car models.
    #[arg(long)]
    run: PathBuf,
    /// The step of the best division, in simulated seconds.
    #[arg(long, default_value_t = 10.0)]
    step: f64,
    /// A car is close enough when it got at least this share less than at best.
    #[arg(long, default_value_t = 0.05)]
    tolerance: f64,
    /// Divide with only what load management can know: a car's phases are unknown until it
    /// draws (it counts on every phase of its EVSE until then), as they are live.
    #[arg(long)]
    knowable: bool,
}

/// One car compared.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Compared {
    pub station_id: String,
    pub evse_id: u32,
    pub arrived_s: f64,
    pub left_s: f64,
    pub delivered_wh: f64,
    pub best_wh: f64,
}

/// The energy each car would have taken under the best division (see the module's
/// documentation), in the order given.
pub(crate) fn best(
    site: &Site,
    cars: &[CarSession],
    step_s: f64,
    knowable: bool,
) -> anyhow::Result<Vec<f64>> {
    let voltage = site.voltage_v.unwrap_or(230.0);
    let step_s = step_s.max(0.1);
    let mut state: Vec<Car> = cars
        .iter()
        .map(|c| Car {
            phases: c.phases,
            max_a: c.max_current_a,
            min_a: c.min_current_a,
            battery_wh: c.battery_wh,
            soc: c.arrival_soc,
            target_soc: c.target_soc,
            departure: None,
            amps: 0.0,
            offered_a: 0.0,
        })
        .collect();
    let mut energy = vec![0.0; cars.len()];
    // Whether each car has drawn yet (its phases known since).
    let mut seen = vec![!knowable; cars.len()];
    let end = cars.iter().map(|c| c.left_s).fold(0.0, f64::max);
    let base = chrono::Utc::now();
    let mut t = 0.0;
    while t < end {
        let next = t + step_s;
        // Admitted as live load management admits them: first come, first served.
        let mut active: Vec<usize> = (0..cars.len())
            .filter(|&i| cars[i].arrived_s < next && cars[i].left_s > t)
            .collect();
        active.sort_by(|&a, &b| cars[a].arrived_s.total_cmp(&cars[b].arrived_s));
        let sessions: Vec<SiteSession> = active
            .iter()
            .map(|&i| SiteSession {
                station_id: cars[i].station_id.clone(),
                evse_id: cars[i].evse_id,
                phases: seen[i].then_some(cars[i].phases),
                min_current_a: Some(cars[i].min_current_a),
                // Offered exactly what it can take; a car tapering below its minimum is still
                // offered its minimum (and takes less).
                max_current_a: Some(state[i].wants_a().max(cars[i].min_current_a)),
                priority: None,
                needed_current_a: None,
            })
            .collect();
        let at = base + chrono::TimeDelta::milliseconds((t * 1000.0) as i64);
        let division = site
            .allocate(&sessions, at)
            .map_err(|e| anyhow::anyhow!("the run's cars do not fit the site: {e}"))?;
        for (&i, a) in active.iter().zip(&division) {
            state[i].offer(a.current_a);
            let from = t.max(cars[i].arrived_s);
            let to = next.min(cars[i].left_s);
            energy[i] += state[i].advance((to - from).max(0.0), voltage);
            seen[i] |= state[i].amps > 0.0;
        }
        t = next;
    }
    Ok(energy)
}

pub(crate) fn run(args: SiteArgs) -> anyhow::Result<()> {
    let site: Site = serde_json::from_str(
        &std::fs::read_to_string(&args.site)
            .with_context(|| format!("reading {}", args.site.display()))?,
    )
    .with_context(|| format!("{} is not a site", args.site.display()))?;
    site.check().map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let summary: arus_sim::Summary = serde_json::from_str(
        &std::fs::read_to_string(&args.run)
            .with_context(|| format!("reading {}", args.run.display()))?,
    )
    .with_context(|| format!("{} is not a simulator summary", args.run.display()))?;
    let cars: Vec<CarSession> = summary
        .cars
        .into_iter()
        .filter(|c| site.evse(&c.station_id, c.evse_id).is_some())
        .collect();
    anyhow::ensure!(
        !cars.is_empty(),
        "the run has no car of the site (its groups need car models)"
    );
    let best_wh = best(&site, &cars, args.step, args.knowable)?;
    // Sessions cut by the end of the run are competitors, not compared.
    let compared: Vec<Compared> = cars
        .iter()
        .zip(&best_wh)
        .filter(|(c, b)| c.ended != "running" && **b >= 100.0)
        .map(|(c, b)| Compared {
            station_id: c.station_id.clone(),
            evse_id: c.evse_id,
            arrived_s: c.arrived_s,
            left_s: c.left_s,
            delivered_wh: c.delivered_wh,
            best_wh: *b,
        })
        .collect();
    let close = compared
        .iter()
        .filter(|c| c.delivered_wh >= c.best_wh * (1.0 - args.tolerance))
        .count();
    let delivered: f64 = compared.iter().map(|c| c.delivered_wh).sum();
    let at_best: f64 = compared.iter().map(|c| c.best_wh).sum();
    println!(
        "{} cars compared ({} still charging at the end, {} with nothing to take)",
        compared.len(),
        cars.iter().filter(|c| c.ended == "running").count(),
        cars.iter()
            .zip(&best_wh)
            .filter(|(c, b)| c.ended != "running" && **b < 100.0)
            .count()
    );
    println!(
        "within {:.0} % of the best division: {close} of {} ({:.1} %)",
        args.tolerance * 100.0,
        compared.len(),
        100.0 * close as f64 / compared.len().max(1) as f64
    );
    println!(
        "energy: {:.1} kWh delivered, {:.1} kWh at best ({:.1} %)",
        delivered / 1000.0,
        at_best / 1000.0,
        100.0 * delivered / at_best.max(1.0)
    );
    let mut worst = compared.clone();
    worst.sort_by(|a, b| (a.delivered_wh / a.best_wh).total_cmp(&(b.delivered_wh / b.best_wh)));
    println!("furthest from the best:");
    for c in worst.iter().take(5) {
        println!(
            "  {} EVSE {}: {:.2} kWh of {:.2} ({:.1} %), {:.1} h from {:.1} h",
            c.station_id,
            c.evse_id,
            c.delivered_wh / 1000.0,
            c.best_wh / 1000.0,
            100.0 * c.delivered_wh / c.best_wh,
            (c.left_s - c.arrived_s) / 3600.0,
            c.arrived_s / 3600.0
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(station: &str, phases: u8, max_a: f64, from_h: f64, to_h: f64) -> CarSession {
        CarSession {
            station_id: station.into(),
            evse_id: 1,
            phases,
            max_current_a: max_a,
            min_current_a: 6.0,
            battery_wh: 100_000.0,
            arrival_soc: 0.1,
            target_soc: 1.0,
            arrived_s: from_h * 3600.0,
            left_s: to_h * 3600.0,
            delivered_wh: 0.0,
            ended: "departed".into(),
        }
    }

    fn site() -> Site {
        serde_json::from_value(serde_json::json!({
            "id": "s", "groups": [{"id": "grid", "phaseLimitsA": [32, 32, 32]}],
            "evses": [{"stationId": "A", "evseId": 1, "group": "grid"},
                      {"stationId": "B", "evseId": 1, "group": "grid"}]}))
        .expect("a site")
    }

    /// Alone, a car takes its maximum; two share the limit, and the second's arrival and the
    /// first's departure show in the energy.
    #[test]
    fn the_best_division_shares_the_limit_over_time() {
        let alone = best(&site(), &[car("A", 3, 16.0, 0.0, 1.0)], 10.0, false).expect("divided");
        assert!((alone[0] - 16.0 * 230.0 * 3.0).abs() < 1.0, "{alone:?}");
        let two = [car("A", 3, 32.0, 0.0, 2.0), car("B", 3, 32.0, 1.0, 2.0)];
        let e = best(&site(), &two, 10.0, false).expect("divided");
        // A: 32 A for an hour, then 16 A; B: 16 A for an hour.
        assert!((e[0] - 48.0 * 230.0 * 3.0).abs() < 1.0, "{e:?}");
        assert!((e[1] - 16.0 * 230.0 * 3.0).abs() < 1.0, "{e:?}");
    }

    /// A three-phase van holds 30 A on each phase of a [40, 32, 32] A connection; a
    /// single-phase car on L1 then arrives. Known to be single-phase it fits on L1 (10 A free)
    /// at once; not knowing its phases (as live), it counts on L2 and L3 too, where 2 A are
    /// free, and waits for the van to leave.
    #[test]
    fn knowing_only_what_can_be_known_a_new_cars_phases_count_on_every_phase() {
        let mut uneven = site();
        uneven.groups[0].phase_limits_a = Some([40.0, 32.0, 32.0]);
        let mut van = car("A", 3, 30.0, 0.0, 2.0);
        van.min_current_a = 30.0;
        let city = car("B", 1, 16.0, 1.0, 3.0);
        let cars = [van, city];
        let perfect = best(&uneven, &cars, 10.0, false).expect("divided");
        let knowable = best(&uneven, &cars, 10.0, true).expect("divided");
        assert!(
            (perfect[1] - (10.0 + 16.0) * 230.0).abs() < 1.0,
            "{perfect:?}"
        );
        assert!((knowable[1] - 16.0 * 230.0).abs() < 1.0, "{knowable:?}");
        assert!(
            (perfect[0] - knowable[0]).abs() < 1.0,
            "the van is not affected"
        );
    }

    /// 10 A fits one 6 A minimum: the car that came first charges, wherever it is listed.
    #[test]
    fn the_best_division_admits_first_come_first_served() {
        let mut tight = site();
        tight.groups[0].phase_limits_a = Some([10.0; 3]);
        let cars = [car("B", 3, 32.0, 1.0, 2.0), car("A", 3, 32.0, 0.0, 2.0)];
        let e = best(&tight, &cars, 10.0, false).expect("divided");
        assert!(e[0].abs() < 1.0, "the later car waits: {e:?}");
        assert!((e[1] - 10.0 * 230.0 * 3.0 * 2.0).abs() < 1.0, "{e:?}");
    }
}
