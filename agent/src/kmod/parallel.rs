//! Runs a module plan with several loads at once. Which step may start is decided from the
//! plan and what has finished so far ([`next`], pure); the threads only call `insert`.

use super::{Action, Step};
use crate::error::{Error, Result};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

/// What became of one step.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Built into the kernel: nothing was loaded.
    Builtin,
    /// Loaded now.
    Loaded,
    /// Already loaded before (by the kernel, or an earlier plan).
    Present,
    /// `insert` failed.
    Failed(Error),
    /// Not tried: the step at this index, a hard dependency, could not be loaded.
    Blocked(usize),
}

impl Outcome {
    fn usable(&self) -> bool {
        matches!(self, Outcome::Builtin | Outcome::Loaded | Outcome::Present)
    }
}

/// What the scheduler should do with a step that has not started.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Something it waits for is still loading.
    Wait,
    /// Everything it waits for has finished, and its hard dependencies are usable.
    Start,
    /// This hard dependency (index) finished without being usable.
    Block(usize),
}

/// Whether step `i` can start, given the outcomes so far (`None`: not finished).
pub(crate) fn next(step: &Step, outcomes: &[Option<Outcome>]) -> Decision {
    for &j in &step.needs {
        match &outcomes[j] {
            None => return Decision::Wait,
            Some(o) if !o.usable() => return Decision::Block(j),
            Some(_) => {}
        }
    }
    if step.after.iter().any(|&j| outcomes[j].is_none()) {
        return Decision::Wait;
    }
    Decision::Start
}

/// The order in which steps that may start are started by `width` loaders: first the heads of
/// the `width` costliest chains of work (steps that wait for nothing; a chain's cost is a step's
/// own plus the costliest chain waiting for it), then the plan's order. On two loaders this
/// starts zstd_compress and raid6_pq (whose benchmark alone takes ~0.28 s under TCG) at once,
/// the two that btrfs waits longest for, while the other modules keep to the config's order
/// (storage and NIC bus drivers first: their devices then appear beside the rest). Every step
/// still comes after what it waits for: heads wait for nothing, and the rest keep plan order.
pub(crate) fn order(steps: &[Step], costs: &[u64], width: usize) -> Vec<usize> {
    let cost = |i: usize| costs[i].saturating_add(1);
    let mut chain: Vec<u64> = (0..steps.len()).map(cost).collect();
    // What a step waits for comes earlier in the plan: walking backwards, a step's chain is
    // final before it is passed on.
    for i in (0..steps.len()).rev() {
        for &j in steps[i].needs.iter().chain(&steps[i].after) {
            chain[j] = chain[j].max(cost(j).saturating_add(chain[i]));
        }
    }
    let mut heads: Vec<usize> =
        (0..steps.len()).filter(|&i| steps[i].needs.is_empty() && steps[i].after.is_empty()).collect();
    heads.sort_by_key(|&i| (std::cmp::Reverse(chain[i]), i));
    heads.truncate(width);
    let rest = (0..steps.len()).filter(|i| !heads.contains(i));
    heads.iter().copied().chain(rest).collect()
}

/// Runs every step, at most `width` `insert(name, path)` calls at once, each only after what it
/// waits for; returns one outcome per step, in plan order. With `costs`, several loaders start
/// ready steps in [`order`]; otherwise, or with one loader (the total is the same there), in
/// plan order. `insert` says Ok(false) for a module that was already there.
pub(crate) fn run<F>(steps: &[Step], width: usize, costs: Option<&[u64]>, insert: F) -> Vec<Outcome>
where
    F: Fn(&str, &str) -> Result<bool> + Sync,
{
    let mut outcomes: Vec<Option<Outcome>> = steps.iter().map(|_| None).collect();
    let mut started = vec![false; steps.len()];
    let order = match costs {
        Some(costs) if width > 1 => order(steps, costs, width),
        _ => (0..steps.len()).collect(),
    };
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<bool>)>();
    std::thread::scope(|scope| {
        let mut running = 0;
        loop {
            // Every step comes after what it waits for in `order`, so one pass settles every
            // builtin and blocked step whose dependencies are known.
            for &i in &order {
                let step = &steps[i];
                if started[i] || running >= width {
                    continue;
                }
                match next(step, &outcomes) {
                    Decision::Wait => continue,
                    Decision::Block(j) => outcomes[i] = Some(Outcome::Blocked(j)),
                    Decision::Start => match &step.action {
                        Action::Builtin(_) => outcomes[i] = Some(Outcome::Builtin),
                        // One loader: no threads to start (each costs milliseconds under QEMU).
                        Action::Insert { name, path, .. } if width <= 1 => {
                            outcomes[i] = Some(outcome(insert(name, path)));
                        }
                        Action::Insert { name, path, .. } => {
                            spawn_insert(scope, i, name, path, &insert, done_tx.clone());
                            running += 1;
                        }
                    },
                }
                started[i] = true;
            }
            if running == 0 {
                break;
            }
            let (i, result) = done_rx.recv().expect("a loader thread reports before it ends");
            running -= 1;
            outcomes[i] = Some(outcome(result));
        }
    });
    outcomes.into_iter().map(|o| o.expect("every step is settled when none is running")).collect()
}

/// Runs `insert(name, path)` on a thread of `scope`, which reports `(i, result)` on `done`. A
/// panic must still report, or [`run`]'s wait never ends (release builds abort on panic anyway).
fn spawn_insert<'scope, 'env, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    i: usize,
    name: &'env str,
    path: &'env str,
    insert: &'env F,
    done: mpsc::Sender<(usize, Result<bool>)>,
) where
    F: Fn(&str, &str) -> Result<bool> + Sync,
{
    scope.spawn(move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| insert(name, path)))
            .unwrap_or_else(|_| Err(Error::msg(format!("kernel module {name}: loader panicked"))));
        let _ = done.send((i, result));
    });
}

fn outcome(result: Result<bool>) -> Outcome {
    match result {
        Ok(true) => Outcome::Loaded,
        Ok(false) => Outcome::Present,
        Err(e) => Outcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// Steps named a, b, c... with these hard and soft waits.
    fn steps(table: &[(&[usize], &[usize])]) -> Vec<Step> {
        table
            .iter()
            .enumerate()
            .map(|(i, (needs, after))| Step {
                action: Action::Insert {
                    name: ((b'a' + i as u8) as char).to_string(),
                    path: format!("{i}.ko"),
                    required: true,
                },
                needs: needs.to_vec(),
                after: after.to_vec(),
            })
            .collect()
    }

    fn kinds(outcomes: &[Outcome]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                Outcome::Builtin => "builtin".to_string(),
                Outcome::Loaded => "loaded".to_string(),
                Outcome::Present => "present".to_string(),
                Outcome::Failed(e) => format!("failed: {e}"),
                Outcome::Blocked(j) => format!("blocked by {j}"),
            })
            .collect()
    }

    #[test]
    fn the_costliest_chain_starts_first_and_nothing_before_what_it_waits_for() {
        // a, b, c independent; d (huge) needs b and c; e after a.
        let plan = steps(&[(&[], &[]), (&[], &[]), (&[], &[]), (&[1, 2], &[]), (&[], &[0])]);
        // The heads of the two costliest chains (c, then b), then the plan's order.
        assert_eq!(order(&plan, &[1, 1, 50, 100, 1], 2), [2, 1, 0, 3, 4]);
        assert_eq!(order(&plan, &[1, 60, 50, 100, 1], 2), [1, 2, 0, 3, 4]);
        // Three loaders: a's chain (a, e) is the third.
        assert_eq!(order(&plan, &[1, 60, 50, 100, 1], 3), [1, 2, 0, 3, 4]);
        assert_eq!(order(&plan, &[1, 60, 50, 100, 1], 1), [1, 0, 2, 3, 4]);
        // Whatever the costs, nothing comes before what it waits for (one pass settles all).
        for costs in [[1, 60, 50, 100, 1], [100, 1, 1, 1, 100], [0; 5]] {
            for width in 1..=5 {
                let o = order(&plan, &costs, width);
                let at = |i: usize| o.iter().position(|&x| x == i).unwrap();
                for (i, s) in plan.iter().enumerate() {
                    assert!(s.needs.iter().chain(&s.after).all(|&j| at(j) < at(i)), "{o:?}");
                }
            }
        }
        // On two loaders, never d before b and c are in.
        let finished = Mutex::new(Vec::<String>::new());
        let outcomes = run(&plan, 2, Some(&[1, 60, 50, 100, 1]), |name, _| {
            if name == "d" {
                let done = finished.lock().unwrap();
                assert!(done.iter().any(|d| d == "b") && done.iter().any(|d| d == "c"), "{done:?}");
            }
            finished.lock().unwrap().push(name.to_string());
            Ok(true)
        });
        assert_eq!(kinds(&outcomes), ["loaded"; 5]);
        // One loader keeps to the plan's order.
        let loaded = Mutex::new(Vec::new());
        run(&plan, 1, Some(&[1, 60, 50, 100, 1]), |name, _| {
            loaded.lock().unwrap().push(name.to_string());
            Ok(true)
        });
        assert_eq!(loaded.into_inner().unwrap(), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn decisions_follow_what_has_finished() {
        let s = &steps(&[(&[], &[]), (&[], &[]), (&[0], &[1])])[2];
        assert_eq!(next(s, &[None, None, None]), Decision::Wait);
        assert_eq!(next(s, &[Some(Outcome::Loaded), None, None]), Decision::Wait);
        assert_eq!(
            next(s, &[Some(Outcome::Present), Some(Outcome::Failed(Error::msg("x"))), None]),
            Decision::Start
        );
        assert_eq!(next(s, &[Some(Outcome::Blocked(7)), Some(Outcome::Loaded), None]), Decision::Block(0));
        assert_eq!(next(s, &[Some(Outcome::Failed(Error::msg("x"))), None, None]), Decision::Block(0));
    }

    #[test]
    fn nothing_starts_before_what_it_waits_for_has_finished() {
        // a b c independent; d needs a and b; e needs d, after c; f after e.
        let plan = steps(&[(&[], &[]), (&[], &[]), (&[], &[]), (&[0, 1], &[]), (&[3], &[2]), (&[], &[4])]);
        let finished = Mutex::new(Vec::<String>::new());
        let outcomes = run(&plan, 3, None, |name, _| {
            let i = (name.as_bytes()[0] - b'a') as usize;
            {
                let done = finished.lock().unwrap();
                for &j in plan[i].needs.iter().chain(&plan[i].after) {
                    let dep = action_name(&plan[j]);
                    assert!(done.iter().any(|d| d == dep), "{name} started before {dep} finished");
                }
            }
            std::thread::sleep(Duration::from_millis(5));
            finished.lock().unwrap().push(name.to_string());
            Ok(true)
        });
        assert_eq!(kinds(&outcomes), ["loaded"; 6]);
        assert_eq!(finished.lock().unwrap().len(), 6);
    }

    fn action_name(step: &Step) -> &str {
        match &step.action {
            Action::Insert { name, .. } | Action::Builtin(name) => name,
        }
    }

    #[test]
    fn independent_steps_run_at_the_same_time() {
        // a and b only pass when both are inside `insert` together (a rendezvous, not a timing
        // guess): run one after the other, the first gives up after 20 s and fails.
        let plan = steps(&[(&[], &[]), (&[], &[]), (&[0, 1], &[])]);
        let inside = (Mutex::new(0), Condvar::new());
        let outcomes = run(&plan, 2, None, |name, _| {
            if name == "c" {
                return Ok(true);
            }
            let (count, cvar) = &inside;
            let mut n = count.lock().unwrap();
            *n += 1;
            cvar.notify_all();
            let (n, timeout) = cvar.wait_timeout_while(n, Duration::from_secs(20), |n| *n < 2).unwrap();
            drop(n);
            if timeout.timed_out() {
                return Err(Error::msg(format!("{name} ran alone")));
            }
            Ok(true)
        });
        assert_eq!(kinds(&outcomes), ["loaded", "loaded", "loaded"]);
    }

    #[test]
    fn a_failure_blocks_only_what_needs_it() {
        // b fails: c needs it (blocked), d needs c (blocked by c), e is only after b (runs),
        // a is independent (runs).
        let plan = steps(&[(&[], &[]), (&[], &[]), (&[1], &[]), (&[2], &[]), (&[0], &[1])]);
        let tried = Mutex::new(Vec::new());
        let outcomes = run(&plan, 4, None, |name, _| {
            tried.lock().unwrap().push(name.to_string());
            match name {
                "b" => Err(Error::msg("b: no")),
                "a" => Ok(false),
                _ => Ok(true),
            }
        });
        assert_eq!(kinds(&outcomes), ["present", "failed: b: no", "blocked by 1", "blocked by 2", "loaded"]);
        let mut tried = tried.into_inner().unwrap();
        tried.sort();
        assert_eq!(tried, ["a", "b", "e"]);
    }

    #[test]
    fn width_one_is_the_plan_order_and_builtins_are_not_inserted() {
        let mut plan = steps(&[(&[], &[]), (&[], &[]), (&[0], &[]), (&[], &[])]);
        plan[1].action = Action::Builtin("b".into());
        let order = Mutex::new(Vec::new());
        let outcomes = run(&plan, 1, None, |name, _| {
            order.lock().unwrap().push(name.to_string());
            Ok(true)
        });
        assert_eq!(kinds(&outcomes), ["loaded", "builtin", "loaded", "loaded"]);
        assert_eq!(order.into_inner().unwrap(), ["a", "c", "d"]);
    }

    #[test]
    fn a_panicking_loader_is_a_failure_not_a_hang() {
        let plan = steps(&[(&[], &[]), (&[0], &[])]);
        let outcomes = run(&plan, 2, None, |name, _| if name == "a" { panic!("boom") } else { Ok(true) });
        assert_eq!(kinds(&outcomes), ["failed: kernel module a: loader panicked", "blocked by 0"]);
    }
}
