//! Handing the rows of one statement out to the reads that asked for them.

/// One answer per read, in the reads' order: the row `answers` matches to it, or `None`. Each
/// row is moved to the last read that asks for it and cloned only for earlier reads of the same
/// row, so a group of distinct reads (nearly every group) copies nothing.
pub(crate) fn hand_out<R, T: Clone>(
    reads: &[R],
    rows: Vec<T>,
    answers: impl Fn(&T, &R) -> bool,
) -> Vec<Option<T>> {
    let mut rows: Vec<Option<T>> = rows.into_iter().map(Some).collect();
    // For each row already handed out: the read that holds it now.
    let mut holder: Vec<Option<usize>> = vec![None; rows.len()];
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(reads.len()).collect();
    for (i, read) in reads.iter().enumerate().rev() {
        let found = (0..rows.len()).find(|&r| {
            let row = match holder[r] {
                Some(j) => out[j].as_ref(),
                None => rows[r].as_ref(),
            };
            row.is_some_and(|row| answers(row, read))
        });
        if let Some(r) = found {
            out[i] = match holder[r] {
                Some(j) => out[j].clone(),
                None => {
                    holder[r] = Some(i);
                    rows[r].take()
                }
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::hand_out;

    thread_local! {
        static CLONES: Cell<usize> = const { Cell::new(0) };
    }

    #[derive(Debug, PartialEq)]
    struct Row {
        id: u32,
        org: u32,
    }

    impl Clone for Row {
        fn clone(&self) -> Self {
            CLONES.with(|c| c.set(c.get() + 1));
            Row {
                id: self.id,
                org: self.org,
            }
        }
    }

    fn row(id: u32, org: u32) -> Row {
        Row { id, org }
    }

    fn clones() -> usize {
        CLONES.with(Cell::take)
    }

    #[test]
    fn distinct_reads_get_their_rows_without_a_copy() {
        let reads = [(10, 1), (10, 2), (10, 3)];
        let rows = vec![row(3, 10), row(1, 10), row(2, 10)];
        clones();
        let out = hand_out(&reads, rows, |r, &(org, id)| r.org == org && r.id == id);
        assert_eq!(
            out,
            vec![Some(row(1, 10)), Some(row(2, 10)), Some(row(3, 10))]
        );
        assert_eq!(clones(), 0);
    }

    #[test]
    fn a_row_read_twice_is_copied_once_and_a_foreign_or_missing_read_gets_none() {
        // (org, id): id 1 read twice, id 2 by another organisation, id 9 missing.
        let reads = [(10, 1), (20, 2), (10, 9), (10, 1)];
        let rows = vec![row(1, 10), row(2, 10)];
        clones();
        let out = hand_out(&reads, rows, |r, &(org, id)| r.org == org && r.id == id);
        assert_eq!(out, vec![Some(row(1, 10)), None, None, Some(row(1, 10))]);
        assert_eq!(clones(), 1);
    }

    #[test]
    fn no_reads_or_no_rows() {
        let none: Vec<Option<Row>> = hand_out(&[] as &[u32], vec![row(1, 1)], |r, id| r.id == *id);
        assert!(none.is_empty());
        assert_eq!(
            hand_out(&[1u32, 2], vec![], |r: &Row, id| r.id == *id),
            vec![None, None]
        );
    }
}
