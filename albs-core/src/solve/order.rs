//! Build order of a set of source packages.
//!
//! Each source package ([`OrderInput`]) has BuildRequires and the
//! capabilities its binary packages will provide. Source `A` depends on
//! source `B` when one of `A`'s BuildRequires is satisfied by something `B`
//! produces, with rpm's version matching (the inputs are loaded as
//! pseudo-packages into a [`Pool`], so `foo >= 2` is not satisfied by a
//! produced `foo = 1.0-1`). Cycles are the strongly connected components of
//! that graph (Tarjan's algorithm); the order builds the components in
//! topological order, and inside a cycle picks first the package with the
//! fewest unbuilt dependencies in the cycle, noting which ones must be
//! bootstrapped.
//!
//! BuildRequires that no input satisfies are external (expected from the
//! build root's repositories): they add no edge and are listed.
//!
//! [`input_from_srpm`] reads an input from an SRPM. An SRPM header records
//! the BuildRequires (as its requires) but not the names of the binary
//! packages the spec will produce, so those are taken from the caller or
//! default to the source package's own name at its EVR (plus whatever the
//! header provides): a BuildRequires on a subpackage name (`foo-devel`) then
//! only becomes an edge when the caller lists it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::dep::{EvrRef, Rich, Sense};
use super::pool::{DepId, DepKind, DepRec, EvrRec, PkgId, Pool};

/// Errors from computing a build order.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// A dependency string cannot be parsed.
    #[error("{input}: cannot parse dependency {dep:?}: {reason}")]
    BadDependency {
        /// The source package (or file) carrying it.
        input: String,
        /// The dependency text.
        dep: String,
        /// What is wrong.
        reason: String,
    },
    /// Two inputs carry the same name.
    #[error("source package {name} is given twice")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// `produces` names a source package that is not among the SRPMs.
    #[error("produces are given for {name}, which is not among the source packages")]
    UnknownProduces {
        /// The name given.
        name: String,
    },
    /// An SRPM cannot be read.
    #[error("{path} is not a readable source RPM: {message}")]
    Rpm {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// One source package to order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInput {
    /// Source package name (unique among the inputs).
    pub name: String,
    /// BuildRequires as rpm writes them: `foo`, `foo >= 1.2-3`, `(a or b)`.
    pub build_requires: Vec<String>,
    /// Capabilities its binary packages provide: `foo`, `foo = 1.2-3`, `/usr/bin/foo`.
    pub produces: Vec<String>,
}

/// One package of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Source package name.
    pub name: String,
    /// Index into [`BuildOrder::cycles`] when the package is in a cycle.
    pub cycle: Option<usize>,
    /// Inputs it build-requires that are not built yet at this point (only
    /// inside a cycle): it needs a bootstrap build without them, or
    /// previously built binaries of them.
    pub bootstrap_without: Vec<String>,
    /// Parallel stage: every dependency outside its cycle is in an earlier stage.
    pub stage: usize,
    /// It build-requires something only it produces (a compiler built by
    /// itself): it needs a previous build of itself in the build root.
    pub needs_itself: bool,
}

/// The graph and the order computed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOrder {
    /// Every input once, dependencies first.
    pub steps: Vec<Step>,
    /// Strongly connected components of more than one package, each sorted by name.
    pub cycles: Vec<Vec<String>>,
    /// Edges `(needs, provider, build requires)`: `needs` build-requires
    /// something `provider` produces; sorted.
    pub edges: Vec<(String, String, String)>,
    /// BuildRequires no input satisfies: `(source, build requires)`, sorted.
    pub external: Vec<(String, String)>,
}

/// Interns a textual dependency: `name`, `name OP [epoch:]version[-release]`
/// or a rich dependency in parentheses.
pub fn parse_dep(pool: &mut Pool, text: &str) -> Result<DepId, String> {
    let text = text.trim();
    if text.starts_with('(') {
        return pool.intern_rich(text).map_err(|e| e.to_string());
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (name, sense, evr) = match parts.as_slice() {
        [name] => (*name, Sense::ANY, None),
        [name, op, evr] => {
            let sense = Sense::from_op(op).ok_or_else(|| format!("unknown operator {op:?}"))?;
            let e = EvrRef::parse(evr).ok_or_else(|| format!("bad version {evr:?}"))?;
            if e.version.is_empty() {
                return Err(format!("empty version in {evr:?}"));
            }
            let rec = EvrRec {
                epoch: e.epoch,
                version: pool.intern(e.version),
                release: e.release.map(|r| pool.intern(r)),
            };
            (*name, sense, Some(pool.intern_evr(rec)))
        }
        [] => return Err("empty".into()),
        _ => return Err("expected NAME or NAME OP VERSION".into()),
    };
    let name = pool.intern(name);
    Ok(pool.intern_dep(DepRec {
        name,
        sense,
        evr,
        rich: None,
    }))
}

/// Computes the build order of `inputs`.
pub fn build_order(inputs: &[OrderInput]) -> Result<BuildOrder, OrderError> {
    let n = inputs.len();
    let mut index = HashMap::new();
    for (i, inp) in inputs.iter().enumerate() {
        if index.insert(inp.name.as_str(), i).is_some() {
            return Err(OrderError::Duplicate {
                name: inp.name.clone(),
            });
        }
    }
    // Load the inputs as pseudo-packages: their provides are what they produce.
    let mut pool = Pool::new();
    let arch = pool.intern("src");
    let zero = pool.intern("0");
    let evr = pool.intern_evr(EvrRec {
        epoch: Some(0),
        version: zero,
        release: Some(zero),
    });
    let bad = |inp: &OrderInput, dep: &str, reason: String| OrderError::BadDependency {
        input: inp.name.clone(),
        dep: dep.to_owned(),
        reason,
    };
    let mut requires: Vec<Vec<DepId>> = Vec::with_capacity(n);
    for inp in inputs {
        let mut lists: [Vec<DepId>; 9] = Default::default();
        for p in &inp.produces {
            let d = parse_dep(&mut pool, p).map_err(|r| bad(inp, p, r))?;
            if pool.rich(d).is_some() {
                return Err(bad(inp, p, "a provide cannot be a rich dependency".into()));
            }
            lists[DepKind::Provides.slot()].push(d);
        }
        let mut reqs = Vec::new();
        for r in &inp.build_requires {
            reqs.push(parse_dep(&mut pool, r).map_err(|e| bad(inp, r, e))?);
        }
        let name = pool.intern(&inp.name);
        let id = pool.add_package(name, arch, evr, &lists);
        debug_assert_eq!(id.index(), requires.len());
        requires.push(reqs);
    }
    pool.reindex();

    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut edges = Vec::new();
    let mut external = Vec::new();
    let mut found = Vec::new();
    let mut needs_itself = vec![false; n];
    for (i, reqs) in requires.iter().enumerate() {
        for &r in reqs {
            found.clear();
            providers(&pool, r, &mut found);
            let mut any = false;
            // An edge already made by another requires keeps its first reason.
            for &PkgId(j) in &found {
                let j = j as usize;
                any = true;
                if j != i && adj[i].insert(j) {
                    edges.push((
                        inputs[i].name.clone(),
                        inputs[j].name.clone(),
                        pool.dep_str(r),
                    ));
                }
            }
            if !any {
                external.push((inputs[i].name.clone(), pool.dep_str(r)));
            } else if found.iter().all(|p| p.index() == i) {
                needs_itself[i] = true;
            }
        }
    }
    edges.sort();
    external.sort();
    external.dedup();

    let adj: Vec<Vec<usize>> = adj.into_iter().map(|s| s.into_iter().collect()).collect();
    let comps = tarjan(&adj);
    let mut o = order(inputs, &adj, &comps, edges, external);
    for step in &mut o.steps {
        step.needs_itself = needs_itself[index[step.name.as_str()]];
    }
    Ok(o)
}

/// Providers of a simple dependency, or of any leaf of a rich one (an
/// over-approximation that is safe for ordering).
fn providers(pool: &Pool, dep: DepId, out: &mut Vec<PkgId>) {
    match pool.rich(dep) {
        None => pool.what_provides(dep, out),
        Some(tree) => {
            let mut leaves = Vec::new();
            collect_leaves(tree, &mut leaves);
            for d in leaves {
                pool.what_provides(d, out);
            }
            out.sort();
            out.dedup();
        }
    }
}

fn collect_leaves(tree: &Rich<DepId>, out: &mut Vec<DepId>) {
    tree.for_each_leaf(&mut |d| out.push(*d));
}

/// Tarjan's strongly connected components, iteratively (no recursion, so
/// long chains cannot overflow the stack). Components come out sinks first:
/// a component is emitted after every component it reaches.
pub fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next = 0;
    // (node, position in its adjacency list)
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        call.push((root, 0));
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            if let Some(&w) = adj[v].get(*pos) {
                *pos += 1;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                comps.push(comp);
            }
        }
    }
    comps
}

fn order(
    inputs: &[OrderInput],
    adj: &[Vec<usize>],
    comps: &[Vec<usize>],
    edges: Vec<(String, String, String)>,
    external: Vec<(String, String)>,
) -> BuildOrder {
    let n = inputs.len();
    let mut comp_of = vec![0; n];
    for (c, members) in comps.iter().enumerate() {
        for &m in members {
            comp_of[m] = c;
        }
    }
    // Condensation: component c needs component d.
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); comps.len()];
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); comps.len()];
    for (v, ws) in adj.iter().enumerate() {
        for &w in ws {
            let (c, d) = (comp_of[v], comp_of[w]);
            if c != d && needs[c].insert(d) {
                needed_by[d].push(c);
            }
        }
    }
    // Kahn's algorithm, ready components by smallest member name, so the
    // order does not depend on input order.
    let key = |c: usize| {
        comps[c]
            .iter()
            .map(|&m| inputs[m].name.as_str())
            .min()
            .unwrap_or("")
    };
    let mut missing: Vec<usize> = needs.iter().map(BTreeSet::len).collect();
    let mut ready: BTreeSet<(&str, usize)> = (0..comps.len())
        .filter(|&c| missing[c] == 0)
        .map(|c| (key(c), c))
        .collect();
    let mut stage = vec![0usize; comps.len()];
    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut steps = Vec::with_capacity(n);
    let mut built = vec![false; n];
    while let Some((_, c)) = ready.pop_first() {
        stage[c] = needs[c].iter().map(|&d| stage[d] + 1).max().unwrap_or(0);
        let members = &comps[c];
        let cycle = if members.len() > 1 {
            let mut names: Vec<String> = members.iter().map(|&m| inputs[m].name.clone()).collect();
            names.sort();
            cycles.push(names);
            Some(cycles.len() - 1)
        } else {
            None
        };
        // Inside a cycle: fewest unbuilt in-cycle dependencies first, then by name.
        let mut left: Vec<usize> = members.clone();
        while !left.is_empty() {
            let unbuilt = |m: usize| -> Vec<usize> {
                adj[m]
                    .iter()
                    .copied()
                    .filter(|&w| comp_of[w] == c && !built[w])
                    .collect()
            };
            let pick = left
                .iter()
                .copied()
                .min_by(|&a, &b| {
                    unbuilt(a)
                        .len()
                        .cmp(&unbuilt(b).len())
                        .then_with(|| inputs[a].name.cmp(&inputs[b].name))
                })
                .expect("not empty");
            let mut without: Vec<String> = unbuilt(pick)
                .into_iter()
                .map(|w| inputs[w].name.clone())
                .collect();
            without.sort();
            steps.push(Step {
                name: inputs[pick].name.clone(),
                cycle,
                bootstrap_without: without,
                stage: stage[c],
                needs_itself: false,
            });
            built[pick] = true;
            left.retain(|&m| m != pick);
        }
        for &up in &needed_by[c] {
            missing[up] -= 1;
            if missing[up] == 0 {
                ready.insert((key(up), up));
            }
        }
    }
    BuildOrder {
        steps,
        cycles,
        edges,
        external,
    }
}

/// Reads an SRPM into an [`OrderInput`]: its requires (without
/// `rpmlib(...)`) are the BuildRequires. What it produces is `produces`
/// when given (for example the binary package names from a spec query);
/// otherwise the source name at the SRPM's EVR and the header's provides,
/// because an SRPM header does not list its subpackages.
pub fn input_from_srpm(path: &Path, produces: Option<&[String]>) -> Result<OrderInput, OrderError> {
    let fail = |message: String| OrderError::Rpm {
        path: path.display().to_string(),
        message,
    };
    let meta = rpm::PackageMetadata::open(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_source_package() {
        return Err(fail("a binary package, not a source package".into()));
    }
    let name = meta.get_name().map_err(|e| fail(e.to_string()))?.to_owned();
    let reqs = meta.get_requires().map_err(|e| fail(e.to_string()))?;
    let build_requires = reqs
        .iter()
        .filter(|d| {
            !d.name.starts_with("rpmlib(") && !d.flags.contains(rpm::DependencyFlags::RPMLIB)
        })
        .map(dep_text)
        .collect();
    let produces = match produces {
        Some(p) => p.to_vec(),
        None => {
            let version = meta.get_version().map_err(|e| fail(e.to_string()))?;
            let release = meta.get_release().map_err(|e| fail(e.to_string()))?;
            let evr = match meta.get_epoch() {
                Ok(e) if e > 0 => format!("{e}:{version}-{release}"),
                _ => format!("{version}-{release}"),
            };
            let mut v = vec![format!("{name} = {evr}")];
            // An SRPM usually records no provides; a header without the tag is fine.
            if let Ok(provs) = meta.get_provides() {
                v.extend(provs.iter().map(dep_text));
            }
            v
        }
    };
    Ok(OrderInput {
        name,
        build_requires,
        produces,
    })
}

/// An [`OrderInput`] from a spec query: its BuildRequires, and as what it
/// produces everything the subpackages provide (each its own
/// `hello-extras-devel = 0.3-1.el9` among them), so no `produces` needs to
/// be given.
pub fn input_from_spec(info: &crate::spec::SpecInfo) -> OrderInput {
    let mut produces: Vec<String> = info.provides.clone();
    // rpm provides `name = evr` for every subpackage; a bare name is only
    // added when that versioned provide is missing, so that versioned
    // BuildRequires keep their meaning.
    for name in &info.packages {
        let own = format!("{name} = ");
        if !produces.iter().any(|p| p == name || p.starts_with(&own)) {
            produces.push(name.clone());
        }
    }
    OrderInput {
        name: info.name.clone(),
        build_requires: info.build_requires.clone(),
        produces,
    }
}

/// Reads SRPMs into inputs; `produces` overrides, per source package name,
/// what [`input_from_srpm`] would assume the package produces. A name in
/// `produces` that matches no SRPM is an error (most likely a typo).
pub fn inputs_from_srpms<P: AsRef<Path>>(
    paths: &[P],
    produces: &HashMap<String, Vec<String>>,
) -> Result<Vec<OrderInput>, OrderError> {
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let mut input = input_from_srpm(path.as_ref(), None)?;
        if let Some(caps) = produces.get(&input.name) {
            input.produces.clone_from(caps);
        }
        inputs.push(input);
    }
    if let Some(name) = produces
        .keys()
        .filter(|k| !inputs.iter().any(|i| &i.name == *k))
        .min()
    {
        return Err(OrderError::UnknownProduces { name: name.clone() });
    }
    Ok(inputs)
}

/// A header dependency as rpm prints it (`foo >= 1.2`).
pub(crate) fn dep_text(d: &rpm::Dependency) -> String {
    let f = d.flags;
    let mut op = String::new();
    if f.contains(rpm::DependencyFlags::LESS) {
        op.push('<');
    }
    if f.contains(rpm::DependencyFlags::GREATER) {
        op.push('>');
    }
    if f.contains(rpm::DependencyFlags::EQUAL) {
        op.push('=');
    }
    if op.is_empty() || d.version.is_empty() || d.name.starts_with('(') {
        d.name.clone()
    } else {
        format!("{} {op} {}", d.name, d.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inp(name: &str, br: &[&str], produces: &[&str]) -> OrderInput {
        OrderInput {
            name: name.into(),
            build_requires: br.iter().map(|s| s.to_string()).collect(),
            produces: produces.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn names(o: &BuildOrder) -> Vec<&str> {
        o.steps.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn chain() {
        let o = build_order(&[
            inp("c", &["libb-devel"], &["c"]),
            inp("b", &["a"], &["b", "libb-devel"]),
            inp("a", &[], &["a"]),
        ])
        .unwrap();
        assert_eq!(names(&o), ["a", "b", "c"]);
        assert!(o.cycles.is_empty());
        assert_eq!(
            o.steps.iter().map(|s| s.stage).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(o.edges.len(), 2);
        assert!(
            o.edges
                .contains(&("c".into(), "b".into(), "libb-devel".into()))
        );
    }

    #[test]
    fn diamond() {
        let o = build_order(&[
            inp("top", &["left", "right"], &["top"]),
            inp("right", &["base"], &["right"]),
            inp("left", &["base >= 1"], &["left"]),
            inp("base", &[], &["base = 1.0-1"]),
        ])
        .unwrap();
        assert_eq!(names(&o), ["base", "left", "right", "top"]);
        let stages: Vec<usize> = o.steps.iter().map(|s| s.stage).collect();
        assert_eq!(stages, [0, 1, 1, 2]);
    }

    #[test]
    fn two_cycle() {
        let o = build_order(&[inp("x", &["y"], &["x"]), inp("y", &["x"], &["y"])]).unwrap();
        assert_eq!(o.cycles, [vec!["x".to_string(), "y".to_string()]]);
        assert_eq!(names(&o), ["x", "y"]);
        assert_eq!(o.steps[0].cycle, Some(0));
        assert_eq!(o.steps[0].bootstrap_without, ["y"]);
        assert!(o.steps[1].bootstrap_without.is_empty());
    }

    #[test]
    fn three_cycle_with_tail() {
        // p -> q -> r -> p, tail t needs p, and r also needs base.
        let o = build_order(&[
            inp("t", &["p"], &["t"]),
            inp("p", &["q"], &["p"]),
            inp("q", &["r"], &["q"]),
            inp("r", &["p", "base"], &["r"]),
            inp("base", &[], &["base"]),
        ])
        .unwrap();
        assert_eq!(o.cycles, [vec!["p".to_string(), "q".into(), "r".into()]]);
        let n = names(&o);
        assert_eq!(n[0], "base");
        assert_eq!(n[4], "t");
        // Within the cycle every member has one in-cycle dependency: by name,
        // p first (bootstrapped without q), then r (needs p, built), then q.
        assert_eq!(&n[1..4], ["p", "r", "q"]);
        assert_eq!(o.steps[1].bootstrap_without, ["q"]);
        assert!(o.steps[2].bootstrap_without.is_empty());
        assert!(o.steps[3].bootstrap_without.is_empty());
        assert_eq!(o.steps[4].cycle, None);
        assert_eq!(o.steps[4].stage, 2);
    }

    #[test]
    fn unsatisfied_version_makes_no_edge() {
        let o = build_order(&[
            inp("app", &["lib >= 2.0", "tool > 1:0"], &["app"]),
            inp("lib", &[], &["lib = 1.5-1"]),
            inp("tool", &[], &["tool = 1:3-1"]),
        ])
        .unwrap();
        assert_eq!(
            o.edges,
            [(
                "app".to_string(),
                "tool".to_string(),
                "tool > 1:0".to_string()
            )]
        );
        assert_eq!(o.external, [("app".to_string(), "lib >= 2.0".to_string())]);
        assert_eq!(names(&o), ["lib", "tool", "app"]);
    }

    #[test]
    fn unknown_requires_are_external() {
        let o = build_order(&[
            inp("a", &["gcc", "make", "(b or zlib-devel)"], &["a"]),
            inp("b", &["gcc"], &["b"]),
        ])
        .unwrap();
        assert_eq!(
            o.external,
            [
                ("a".to_string(), "gcc".to_string()),
                ("a".into(), "make".into()),
                ("b".into(), "gcc".into())
            ]
        );
        assert_eq!(names(&o), ["b", "a"]);
    }

    #[test]
    fn self_build_requires_need_a_previous_build() {
        let o = build_order(&[
            inp("rust", &["rust >= 1.80", "llvm"], &["rust = 1.81-1"]),
            inp("llvm", &["cmake"], &["llvm", "cmake"]),
        ])
        .unwrap();
        assert_eq!(names(&o), ["llvm", "rust"]);
        assert!(o.steps[1].needs_itself);
        // llvm provides cmake itself as well as needing it.
        assert!(o.steps[0].needs_itself);
        assert!(o.cycles.is_empty() && o.external.is_empty());
        // Provided by itself and another input: an ordinary edge.
        let o = build_order(&[inp("a", &["x"], &["x"]), inp("b", &[], &["x"])]).unwrap();
        assert_eq!(names(&o), ["b", "a"]);
        assert!(!o.steps[1].needs_itself);
    }

    proptest::proptest! {
        /// On random graphs: every input once; members of one cycle exactly
        /// when mutually reachable; dependencies outside the cycle first.
        #[test]
        fn order_respects_reachability(
            n in 1usize..9,
            bits in proptest::collection::vec(proptest::bool::weighted(0.25), 81),
        ) {
            let edge = |i: usize, j: usize| i != j && bits[i * 9 + j];
            let name = |i: usize| format!("p{i}");
            let inputs: Vec<OrderInput> = (0..n)
                .map(|i| OrderInput {
                    name: name(i),
                    build_requires: (0..n)
                        .filter(|&j| edge(i, j))
                        .map(|j| format!("cap{j}"))
                        .collect(),
                    produces: vec![format!("cap{i}")],
                })
                .collect();
            let o = build_order(&inputs).unwrap();
            let mut reach = vec![vec![false; n]; n];
            for (i, row) in reach.iter_mut().enumerate() {
                row[i] = true;
                for (j, r) in row.iter_mut().enumerate() {
                    *r |= edge(i, j);
                }
            }
            for k in 0..n {
                for i in 0..n {
                    for j in 0..n {
                        if reach[i][k] && reach[k][j] {
                            reach[i][j] = true;
                        }
                    }
                }
            }
            let pos: Vec<usize> = (0..n)
                .map(|i| o.steps.iter().position(|s| s.name == name(i)).unwrap())
                .collect();
            proptest::prop_assert_eq!(o.steps.len(), n);
            for i in 0..n {
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    let same = reach[i][j] && reach[j][i];
                    let (ci, cj) = (o.steps[pos[i]].cycle, o.steps[pos[j]].cycle);
                    proptest::prop_assert_eq!(same, ci.is_some() && ci == cj);
                    if edge(i, j) && !same {
                        proptest::prop_assert!(pos[j] < pos[i]);
                        proptest::prop_assert!(
                            o.steps[pos[j]].stage < o.steps[pos[i]].stage
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        let err = build_order(&[inp("a", &["foo >>> 1"], &["a"])]).unwrap_err();
        assert!(err.to_string().contains("a:"), "{err}");
        assert!(err.to_string().contains("foo >>> 1"), "{err}");
        let err = build_order(&[inp("a", &[], &[]), inp("a", &[], &[])]).unwrap_err();
        assert!(matches!(err, OrderError::Duplicate { .. }));
    }

    #[test]
    fn tarjan_long_chain_and_self_loop() {
        let n = 100_000;
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![i] })
            .collect();
        let comps = tarjan(&adj);
        assert_eq!(comps.len(), n);
        assert_eq!(comps[0], [n - 1]);
        let ring: Vec<Vec<usize>> = (0..5).map(|i| vec![(i + 1) % 5]).collect();
        assert_eq!(tarjan(&ring), [vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn srpm_garbage_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.src.rpm");
        std::fs::write(&p, b"nope").unwrap();
        let err = input_from_srpm(&p, None).unwrap_err().to_string();
        assert!(err.contains("junk.src.rpm"), "{err}");
    }
}
