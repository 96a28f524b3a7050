//! Random histories (merges, clock skew, annotated, lightweight and
//! pre-release tags) written with `git fast-import`, read back, and checked
//! against reachability computed directly on the generated graph.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semver::Version;

use crate::fixture::{EPOCH, TestRepo};
use pipeline_gitflow::{ReadOptions, Repo};

#[derive(Debug, Clone)]
struct Node {
    parents: Vec<usize>,
    /// Minutes after the epoch; parents may be later (skew).
    minute: i64,
}

#[derive(Debug, Clone)]
struct TagSpec {
    commit: usize,
    version: Version,
    annotated: bool,
}

#[derive(Debug, Clone)]
struct Graph {
    nodes: Vec<Node>,
    tags: Vec<TagSpec>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (2usize..40)
        .prop_flat_map(|n| {
            let parents = (1..n)
                .map(|i| {
                    (
                        0..i,
                        proptest::option::weighted(0.25, 0..i),
                        // Usually the previous commit: long lines, some branches.
                        proptest::bool::weighted(0.7),
                        -3i64..=0,
                    )
                })
                .collect::<Vec<_>>();
            let tags = proptest::collection::vec(
                (
                    0..n,
                    0u64..4,
                    0u64..4,
                    proptest::option::weighted(0.3, 1u64..3),
                    any::<bool>(),
                ),
                0..8,
            );
            (parents, tags)
        })
        .prop_map(|(parents, tags)| {
            let mut nodes = vec![Node {
                parents: Vec::new(),
                minute: 0,
            }];
            for (i, (first, second, linear, skew)) in parents.into_iter().enumerate() {
                let i = i + 1;
                let first = if linear { i - 1 } else { first };
                let mut ps = vec![first];
                if let Some(second) = second.filter(|&s| s != first) {
                    ps.push(second);
                }
                let minute = i64::try_from(i).unwrap() * 10 + skew * 10;
                nodes.push(Node {
                    parents: ps,
                    minute,
                });
            }
            let mut seen = BTreeSet::new();
            let tags = tags
                .into_iter()
                .filter_map(|(commit, minor, patch, rc, annotated)| {
                    let mut version = Version::new(1, minor, patch);
                    if let Some(rc) = rc {
                        version.pre = semver::Prerelease::new(&format!("rc.{rc}")).unwrap();
                    }
                    seen.insert(version.clone()).then_some(TagSpec {
                        commit,
                        version,
                        annotated,
                    })
                })
                .collect();
            Graph { nodes, tags }
        })
}

fn fast_import_stream(graph: &Graph) -> String {
    let mut out = String::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let date = EPOCH + node.minute * 60;
        let message = format!("feat: commit {i}\n");
        out.push_str(&format!(
            "commit refs/heads/scratch\nmark :{}\ncommitter Ada <ada@example.com> {date} +0000\ndata {}\n{message}",
            i + 1,
            message.len()
        ));
        if let Some(first) = node.parents.first() {
            out.push_str(&format!("from :{}\n", first + 1));
        }
        for other in node.parents.iter().skip(1) {
            out.push_str(&format!("merge :{}\n", other + 1));
        }
        out.push_str(&format!(
            "M 644 inline f\ndata {}\n{i}\n\n",
            format!("{i}\n").len()
        ));
    }
    let tip = graph.nodes.len();
    out.push_str(&format!("reset refs/heads/develop\nfrom :{tip}\n\n"));
    for tag in &graph.tags {
        let name = format!("v{}", tag.version);
        if tag.annotated {
            let message = format!("release {name}\n");
            out.push_str(&format!(
                "tag {name}\nfrom :{}\ntagger Ada <ada@example.com> {EPOCH} +0000\ndata {}\n{message}\n",
                tag.commit + 1,
                message.len()
            ));
        } else {
            out.push_str(&format!(
                "reset refs/tags/{name}\nfrom :{}\n\n",
                tag.commit + 1
            ));
        }
    }
    out
}

fn ancestors(graph: &Graph, start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            stack.extend(&graph.nodes[i].parents);
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_walk_matches_reachability(graph in graph()) {
        let repo = TestRepo::new();
        let marks = repo.path().join(".git/marks");
        let marks_arg = format!("--export-marks={}", marks.display());
        repo.fast_import(&fast_import_stream(&graph), &[&marks_arg]);
        if graph.tags.len() % 2 == 0 {
            repo.git(&["pack-refs", "--all"]);
        }
        let oid_of: BTreeMap<usize, String> = std::fs::read_to_string(&marks)
            .unwrap()
            .lines()
            .map(|line| {
                let (mark, oid) = line.split_once(' ').unwrap();
                (mark[1..].parse::<usize>().unwrap() - 1, oid.to_owned())
            })
            .collect();

        let tip = graph.nodes.len() - 1;
        let reachable = ancestors(&graph, tip);
        let finals: Vec<&TagSpec> = graph
            .tags
            .iter()
            .filter(|t| t.version.pre.is_empty() && reachable.contains(&t.commit))
            .collect();
        let released: BTreeSet<usize> = finals
            .iter()
            .flat_map(|t| ancestors(&graph, t.commit))
            .collect();
        let expected_commits: BTreeSet<String> = reachable
            .difference(&released)
            .map(|i| oid_of[i].clone())
            .collect();
        let expected_base = finals.iter().map(|t| t.version.clone()).max();

        let history = Repo::open(repo.path())
            .unwrap()
            .history(&ReadOptions::default())
            .unwrap();
        let got: BTreeSet<String> = history
            .commits()
            .iter()
            .map(|c| c.id().as_str().to_owned())
            .collect();
        prop_assert_eq!(history.commits().len(), got.len(), "a commit listed twice");
        prop_assert_eq!(got, expected_commits);
        prop_assert_eq!(history.base().map(|t| t.version().clone()), expected_base);
        prop_assert_eq!(history.tags().len(), graph.tags.len());
        for pre in history.pre_releases() {
            let spec = graph.tags.iter().find(|t| &t.version == pre.version()).unwrap();
            prop_assert!(reachable.contains(&spec.commit));
        }
    }
}
