//! Cycles in the graphs of records a schema declares, found in linear time with stacks of
//! their own: a schema is user input, and can chain any number of records.

/// For each node of a directed graph (`edges[n]`: the nodes `n` points at), whether it is on a
/// cycle: its strongly connected component (Kosaraju's two passes) has another node, or it
/// points at itself.
pub(crate) fn on_a_cycle(edges: &[Vec<usize>]) -> Vec<bool> {
    let n = edges.len();
    let mut reverse: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (from, to) in edges.iter().enumerate() {
        for &to in to {
            reverse[to].push(from);
        }
    }
    // First pass: the order in which depth-first walks finish.
    let mut order = Vec::with_capacity(n);
    let mut visited = vec![false; n];
    for start in 0..n {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((node, next)) = stack.last_mut() {
            if let Some(&to) = edges[*node].get(*next) {
                *next += 1;
                if !visited[to] {
                    visited[to] = true;
                    stack.push((to, 0));
                }
            } else {
                order.push(*node);
                stack.pop();
            }
        }
    }
    // Second pass, on the reversed graph in reverse finish order: one component per walk.
    let mut component = vec![usize::MAX; n];
    let mut sizes = Vec::new();
    for &start in order.iter().rev() {
        if component[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let mut size = 0;
        let mut stack = vec![start];
        component[start] = id;
        while let Some(node) = stack.pop() {
            size += 1;
            for &from in &reverse[node] {
                if component[from] == usize::MAX {
                    component[from] = id;
                    stack.push(from);
                }
            }
        }
        sizes.push(size);
    }
    (0..n)
        .map(|i| sizes[component[i]] > 1 || edges[i].contains(&i))
        .collect()
}

/// For each node, whether it is on a cycle or points (through any number of edges) at a node
/// that is.
pub(crate) fn reaching_a_cycle(edges: &[Vec<usize>]) -> Vec<bool> {
    let mut reaching = on_a_cycle(edges);
    let mut reverse: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    for (from, to) in edges.iter().enumerate() {
        for &to in to {
            reverse[to].push(from);
        }
    }
    let mut stack: Vec<usize> = (0..edges.len()).filter(|&i| reaching[i]).collect();
    while let Some(node) = stack.pop() {
        for &from in &reverse[node] {
            if !reaching[from] {
                reaching[from] = true;
                stack.push(from);
            }
        }
    }
    reaching
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_and_what_reaches_them() {
        // 0 -> 1 -> 2 -> 1, 3 -> 3, 4 -> 0, 5 alone, 6 -> 5
        let edges = vec![vec![1], vec![2], vec![1], vec![3], vec![0], vec![], vec![5]];
        assert_eq!(
            on_a_cycle(&edges),
            [false, true, true, true, false, false, false]
        );
        assert_eq!(
            reaching_a_cycle(&edges),
            [true, true, true, true, true, false, false]
        );
    }

    #[test]
    fn a_long_chain_has_no_cycle_and_no_recursion() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let run = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || on_a_cycle(&edges).iter().any(|c| *c))
            .expect("spawns");
        assert!(!run.join().expect("no stack overflow"));
    }
}
