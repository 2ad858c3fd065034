//! What one scheduling attempt saw and decided, kept per pod so `sim
//! explain pod/<name>` (and the UI) can show why a pod went where it went,
//! or why it is Pending: every node's Filter verdict, and every Score
//! plugin's raw, normalized and weighted score.

use crate::duration::Duration;
use std::fmt::Write;

/// A node's Filter verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVerdict {
    /// Node name.
    pub node: String,
    /// None: passed; Some((plugin, reasons)): rejected by that plugin.
    pub rejected: Option<(&'static str, String)>,
}

/// One Score plugin's scores, in the order of [`Attempt::scored`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginScores {
    /// Plugin name.
    pub plugin: &'static str,
    /// Its weight.
    pub weight: i64,
    /// Raw Score results.
    pub raw: Vec<i64>,
    /// After NormalizeScore.
    pub normalized: Vec<i64>,
}

/// How the attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Assumed on this node and sent to bind.
    Bound(String),
    /// No node fits: the FailedScheduling message.
    Unschedulable(String),
    /// The attempt could not run (no nodes, no profile...).
    Error(String),
}

/// One scheduling attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When it ran.
    pub at_ms: u64,
    /// Attempt number for this pod.
    pub attempt: u32,
    /// The profile (scheduler name).
    pub profile: String,
    /// Nodes in the cluster.
    pub num_all_nodes: usize,
    /// Feasible nodes the scheduler looked for (percentageOfNodesToScore).
    pub nodes_to_find: usize,
    /// A PreFilter plugin rejected the pod for every node: (plugin, message).
    pub pre_filter_rejection: Option<(&'static str, String)>,
    /// Filter verdicts of the nodes evaluated, in evaluation order.
    pub filtered: Vec<NodeVerdict>,
    /// The nominated node was tried first and fit: no other node was evaluated.
    pub nominated_fast_path: bool,
    /// Nodes scored (the feasible ones), in order.
    pub scored: Vec<String>,
    /// Per Score plugin; empty when only one node was feasible.
    pub scores: Vec<PluginScores>,
    /// Score plugins skipped by their PreScore.
    pub skipped_score_plugins: Vec<&'static str>,
    /// Nodes tied for the top score (the pick among them is random).
    pub tied: Vec<String>,
    /// Preemption's result, if it ran.
    pub preemption: Option<String>,
    /// The result.
    pub outcome: Outcome,
}

impl Attempt {
    /// The total weighted score of each scored node.
    pub fn totals(&self) -> Vec<i64> {
        (0..self.scored.len()).map(|i| self.scores.iter().map(|p| p.normalized[i] * p.weight).sum()).collect()
    }

    /// The attempt as text, as `sim explain` prints it.
    pub fn render(&self, pod: &str) -> String {
        let mut w = String::new();
        let _ = writeln!(
            w,
            "pod {pod}: attempt {} at {} by {}",
            self.attempt,
            Duration::from_millis(self.at_ms),
            self.profile
        );
        match &self.outcome {
            Outcome::Bound(node) => {
                let _ = writeln!(w, "result: bound to {node}");
            }
            Outcome::Unschedulable(message) => {
                let _ = writeln!(w, "result: unschedulable: {message}");
            }
            Outcome::Error(message) => {
                let _ = writeln!(w, "result: error: {message}");
            }
        }
        if let Some((plugin, message)) = &self.pre_filter_rejection {
            let _ = writeln!(w, "\nPreFilter {plugin} rejected the pod on every node: {message}");
            return w;
        }
        let evaluated = self.filtered.len();
        if self.nominated_fast_path {
            let _ = writeln!(w, "\nthe nominated node fit, so no other node was evaluated");
        }
        let _ = writeln!(
            w,
            "\nFilter ({evaluated} of {} nodes evaluated, looking for {} feasible):",
            self.num_all_nodes, self.nodes_to_find
        );
        let width = self.filtered.iter().map(|v| v.node.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(w, "  {:<width$}  RESULT", "NODE");
        for v in &self.filtered {
            match &v.rejected {
                None => {
                    let _ = writeln!(w, "  {:<width$}  passed", v.node);
                }
                Some((plugin, reasons)) => {
                    let _ = writeln!(w, "  {:<width$}  {plugin}: {reasons}", v.node);
                }
            }
        }
        if evaluated < self.num_all_nodes && !self.nominated_fast_path {
            let _ = writeln!(
                w,
                "  ({} nodes not evaluated: enough feasible nodes were found)",
                self.num_all_nodes - evaluated
            );
        }
        if self.scored.len() == 1 && self.scores.is_empty() {
            let _ = writeln!(w, "\nScore: only {} is feasible, so no scoring was needed", self.scored[0]);
        } else if !self.scored.is_empty() {
            let _ = writeln!(w, "\nScore (raw → normalized × weight = weighted):");
            let plugin_width = self.scores.iter().map(|p| p.plugin.len()).max().unwrap_or(6).max(6);
            let cells: Vec<Vec<String>> = self
                .scores
                .iter()
                .map(|p| {
                    (0..self.scored.len())
                        .map(|i| {
                            format!("{}→{}×{}={}", p.raw[i], p.normalized[i], p.weight, p.normalized[i] * p.weight)
                        })
                        .collect()
                })
                .collect();
            let totals = self.totals();
            let col: Vec<usize> = (0..self.scored.len())
                .map(|i| {
                    cells
                        .iter()
                        .map(|c| c[i].len())
                        .chain([self.scored[i].len(), totals[i].to_string().len()])
                        .max()
                        .unwrap_or(4)
                })
                .collect();
            let mut line = format!("  {:<plugin_width$}", "PLUGIN");
            for (i, n) in self.scored.iter().enumerate() {
                let _ = write!(line, "  {:>width$}", n, width = col[i]);
            }
            let _ = writeln!(w, "{}", line.trim_end());
            for (p, row) in self.scores.iter().zip(&cells) {
                let mut line = format!("  {:<plugin_width$}", p.plugin);
                for (i, c) in row.iter().enumerate() {
                    let _ = write!(line, "  {:>width$}", c, width = col[i]);
                }
                let _ = writeln!(w, "{line}");
            }
            let mut line = format!("  {:<plugin_width$}", "TOTAL");
            for (i, t) in totals.iter().enumerate() {
                let _ = write!(line, "  {:>width$}", t, width = col[i]);
            }
            let _ = writeln!(w, "{line}");
            if !self.skipped_score_plugins.is_empty() {
                let _ = writeln!(w, "  (skipped by PreScore: {})", self.skipped_score_plugins.join(", "));
            }
            if self.tied.len() > 1 {
                let _ = writeln!(w, "  tie between {}: picked at random", self.tied.join(", "));
            }
        }
        if let Some(p) = &self.preemption {
            let _ = writeln!(w, "\nPreemption: {p}");
        }
        w
    }
}
