//! Group commit: operations waiting for an index's writer share one log entry.
//!
//! Every add or remove is queued here before its caller waits for the writer. Whoever holds
//! the writer takes the queue's head as one [`Group`]: a remove alone, or a run of adds whose
//! ids are disjoint, merged into one batch (one log write, one apply) up to
//! [`GROUP_RECORDS`] records. Each caller gets its own answer through its [`Done`]. While
//! one log write is under way the next callers queue, so under load a commit serves many
//! callers, and a single caller pays what it did before: one write, one apply.
//!
//! The queue keeps the callers' order, and a group is a prefix of it, so operations apply
//! in the order they were queued. An operation whose caller stopped waiting (its future was
//! dropped) still commits: it was handed over whole, and a commit is all or nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::persist::LogOp;
use crate::error::Result;

/// Most records a merged group holds; a single larger batch still commits whole.
pub(super) const GROUP_RECORDS: usize = 4_096;

/// Where one queued operation's answer goes.
pub(super) type Done = oneshot::Receiver<Result<usize>>;

struct Queued {
    op: LogOp,
    done: oneshot::Sender<Result<usize>>,
}

/// The operations waiting for the writer, oldest first.
#[derive(Default)]
pub(super) struct Queue(Mutex<VecDeque<Queued>>);

impl Queue {
    /// Queues `op`; its answer arrives on the returned receiver once a group holding it
    /// has committed or failed.
    pub(super) fn push(&self, op: LogOp) -> Done {
        let (done, answer) = oneshot::channel();
        self.lock().push_back(Queued { op, done });
        answer
    }

    /// Takes the next group off the queue; `None` when it is empty.
    pub(super) fn next_group(&self) -> Option<Group> {
        let mut queue = self.lock();
        let first = queue.pop_front()?;
        let LogOp::Add { records } = first.op else {
            return Some(Group {
                op: first.op,
                answers: Answers(vec![(None, first.done)]),
            });
        };
        let mut ids: HashSet<String> = HashSet::new();
        let mut merged = records;
        let mut callers = vec![(Some(merged.len()), first.done)];
        loop {
            let Some(Queued {
                op: LogOp::Add { records },
                ..
            }) = queue.front()
            else {
                break;
            };
            if merged.len() + records.len() > GROUP_RECORDS {
                break;
            }
            if ids.is_empty() {
                ids.extend(merged.iter().map(|r| r.id.clone()));
            }
            // An id that two callers add must apply in their order, each as its own write.
            if records.iter().any(|r| ids.contains(&r.id)) {
                break;
            }
            let Some(Queued {
                op: LogOp::Add { records },
                done,
            }) = queue.pop_front()
            else {
                unreachable!("the front was an add a moment ago, under the same lock");
            };
            ids.extend(records.iter().map(|r| r.id.clone()));
            callers.push((Some(records.len()), done));
            merged.extend(records);
        }
        Some(Group {
            op: LogOp::Add { records: merged },
            answers: Answers(callers),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Operations that commit as one log entry.
pub(super) struct Group {
    /// The merged operation.
    pub op: LogOp,
    /// Where its callers' answers go.
    pub answers: Answers,
}

/// The callers of one group: each one's share, how many records it added (`None` for a
/// remove, which is never merged and gets the operation's own count), and where its answer
/// goes.
pub(super) struct Answers(Vec<(Option<usize>, oneshot::Sender<Result<usize>>)>);

impl Answers {
    /// How many callers share the group.
    #[cfg(test)]
    pub fn callers(&self) -> usize {
        self.0.len()
    }

    /// Answers every caller: on success each its own count, on failure each a copy of
    /// the error. A caller that stopped waiting is skipped.
    pub fn finish(self, result: &Result<usize>) {
        for (share, done) in self.0 {
            let answer = match result {
                Ok(n) => Ok(share.unwrap_or(*n)),
                Err(e) => Err(e.duplicate()),
            };
            let _ = done.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::vector::VectorRecord;

    fn add(ids: &[&str]) -> LogOp {
        LogOp::Add {
            records: ids
                .iter()
                .map(|id| VectorRecord::new(*id, vec![0.0, 1.0]))
                .collect(),
        }
    }

    fn ids(op: &LogOp) -> Vec<String> {
        match op {
            LogOp::Add { records } => records.iter().map(|r| r.id.clone()).collect(),
            LogOp::Remove { ids } => ids.clone(),
        }
    }

    #[test]
    fn adds_merge_in_order_until_a_remove_or_a_shared_id() {
        let q = Queue::default();
        let mut answers = vec![
            q.push(add(&["a", "b"])),
            q.push(add(&["c"])),
            q.push(add(&["d", "e", "f"])),
            q.push(LogOp::Remove {
                ids: vec!["a".into()],
            }),
            q.push(add(&["g"])),
            q.push(add(&["g", "h"])),
        ];
        let g = q.next_group().unwrap();
        assert_eq!(ids(&g.op), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(g.answers.callers(), 3);
        g.answers.finish(&Ok(6));
        for (answer, n) in answers.iter_mut().zip([2, 1, 3]) {
            assert_eq!(answer.try_recv().unwrap().unwrap(), n);
        }
        // The remove goes alone and keeps its own count.
        let g = q.next_group().unwrap();
        assert!(matches!(g.op, LogOp::Remove { .. }));
        g.answers.finish(&Ok(1));
        assert_eq!(answers[3].try_recv().unwrap().unwrap(), 1);
        // Two adds of one id are two writes, in order.
        let g = q.next_group().unwrap();
        assert_eq!(ids(&g.op), ["g"]);
        g.answers.finish(&Err(Error::Storage("disk full".into())));
        let e = answers[4].try_recv().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "storage error: disk full");
        let g = q.next_group().unwrap();
        assert_eq!(ids(&g.op), ["g", "h"]);
        drop(answers.pop());
        // A caller that stopped waiting is skipped.
        g.answers.finish(&Ok(2));
        assert!(q.next_group().is_none());
    }

    #[test]
    fn groups_stay_under_the_record_cap_but_a_large_batch_goes_whole() {
        let q = Queue::default();
        let big: Vec<String> = (0..GROUP_RECORDS + 1).map(|i| format!("x{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        let _a = q.push(add(&big));
        let _b = q.push(add(&["y"]));
        let g = q.next_group().unwrap();
        assert_eq!(ids(&g.op).len(), GROUP_RECORDS + 1);
        assert_eq!(g.answers.callers(), 1);
        let g = q.next_group().unwrap();
        assert_eq!(ids(&g.op), ["y"]);
    }
}
