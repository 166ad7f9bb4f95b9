//! [`Metrics`] in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::counters::Counts;
use super::reason::{Failure, Refusal};
use super::snapshot::{Metrics, StaticTunnelMetrics, TunnelMetrics};

/// The `Content-Type` of [`Metrics::to_prometheus`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The labels of one sample, already escaped.
type Labels<'a> = &'a [(&'a str, String)];

/// One listed tunnel's series: its labels (escaped) and its counts.
type Row<'a> = (Vec<(&'static str, String)>, &'a Counts);

struct Writer(String);

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{value}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// One family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The families of every listed tunnel, named `{prefix}_...`: the
    /// connections it carries and has taken, its bytes each way and its
    /// failures by reason; `of` names one row in the help texts.
    fn traffic(&mut self, prefix: &str, of: &str, rows: &[Row<'_>]) {
        self.each(
            &format!("{prefix}_connections_open"),
            "gauge",
            &format!("Connections {of} carries now."),
            rows,
            |(labels, counts)| (labels.clone(), counts.connections_open),
        );
        self.each(
            &format!("{prefix}_connections_total"),
            "counter",
            &format!("Connections {of} has taken."),
            rows,
            |(labels, counts)| (labels.clone(), counts.connections_total),
        );
        let each_way: Vec<(&Row<'_>, &str)> = rows
            .iter()
            .flat_map(|row| DIRECTIONS.iter().map(move |d| (row, *d)))
            .collect();
        self.each(
            &format!("{prefix}_bytes_total"),
            "counter",
            &format!("Bytes {of} has carried, by direction."),
            &each_way,
            |((labels, counts), d)| (with(labels.clone(), "direction", d), bytes(counts, d)),
        );
        let each_failure: Vec<(&Row<'_>, Failure)> = rows
            .iter()
            .flat_map(|row| Failure::ALL.iter().map(move |f| (row, *f)))
            .collect();
        self.each(
            &format!("{prefix}_errors_total"),
            "counter",
            &format!("Failures of {of}'s work, by reason."),
            &each_failure,
            |((labels, counts), f)| {
                (
                    with(labels.clone(), "reason", f.as_str()),
                    counts.failed(*f),
                )
            },
        );
    }

    /// One family with one sample per item of `of`.
    fn each<T>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        of: &[T],
        sample: impl Fn(&T) -> (Vec<(&'static str, String)>, u64),
    ) {
        self.family(name, kind, help);
        for item in of {
            let (labels, value) = sample(item);
            self.sample(name, &labels, value);
        }
    }
}

/// A label value with `\`, `"` and line ends escaped, as the format wants.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The labels that name one tunnel.
fn tunnel_labels(t: &TunnelMetrics) -> Vec<(&'static str, String)> {
    vec![
        ("channel", t.channel.to_string()),
        ("tunnel", t.tunnel.to_string()),
        ("kind", if t.reverse { "reverse" } else { "forward" }.into()),
        ("entrance", escape(&t.entrance)),
        ("exit", escape(&t.exit)),
    ]
}

/// The labels that name one static tunnel.
fn static_labels(t: &StaticTunnelMetrics) -> Vec<(&'static str, String)> {
    vec![
        ("peer", escape(&t.peer)),
        ("static_tunnel", t.id.to_string()),
        ("entrance", escape(&t.entrance)),
        ("exit", escape(&t.exit)),
    ]
}

fn with(
    mut labels: Vec<(&'static str, String)>,
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    labels.push((key, value.to_string()));
    labels
}

const DIRECTIONS: [&str; 2] = ["to_exit", "to_entrance"];

fn bytes(counts: &Counts, direction: &str) -> u64 {
    if direction == "to_exit" {
        counts.bytes_to_exit
    } else {
        counts.bytes_to_entrance
    }
}

impl Metrics {
    /// The snapshot in the Prometheus text format ([`CONTENT_TYPE`]): every
    /// family with its `HELP` and `TYPE`, counters named `..._total`.
    pub fn to_prometheus(&self) -> String {
        let mut w = Writer(String::new());
        w.single(
            "netunnel_channels",
            "gauge",
            "Control channels connected now.",
            self.channels,
        );
        w.single(
            "netunnel_channels_opened_total",
            "counter",
            "Control channels connected since the start.",
            self.channels_opened,
        );
        let kinds = [
            ("forward", self.forward_tunnels),
            ("reverse", self.reverse_tunnels),
        ];
        w.each(
            "netunnel_tunnels",
            "gauge",
            "Tunnels open now, by kind.",
            &kinds,
            |(kind, n)| (vec![("kind", kind.to_string())], *n),
        );
        w.single(
            "netunnel_tunnels_opened_total",
            "counter",
            "Tunnels opened since the start.",
            self.tunnels_opened,
        );
        w.single(
            "netunnel_tunnels_unlisted",
            "gauge",
            "Open tunnels past the tunnel limit, without series of their own.",
            self.unlisted_tunnels,
        );
        self.totals_to(&mut w);
        self.tunnels_to(&mut w);
        if !self.static_tunnels.is_empty() {
            self.static_tunnels_to(&mut w);
        }
        w.0
    }

    fn static_tunnels_to(&self, w: &mut Writer) {
        let statics = &self.static_tunnels;
        w.each(
            "netunnel_static_tunnel_online",
            "gauge",
            "Whether a static tunnel to a peer is connected now (1) or not (0).",
            statics,
            |t| (static_labels(t), u64::from(t.online)),
        );
        let rows: Vec<Row<'_>> = statics
            .iter()
            .map(|t| (static_labels(t), &t.counts))
            .collect();
        w.traffic("netunnel_static_tunnel", "a static tunnel", &rows);
    }

    fn totals_to(&self, w: &mut Writer) {
        let t = &self.totals;
        w.single(
            "netunnel_connections_open",
            "gauge",
            "Connections carried now, over every tunnel.",
            t.connections_open,
        );
        w.single(
            "netunnel_connections_total",
            "counter",
            "Connections carried since the start, over every tunnel.",
            t.connections_total,
        );
        w.each(
            "netunnel_bytes_total",
            "counter",
            "Bytes carried since the start, over every tunnel, by direction.",
            &DIRECTIONS,
            |d| (vec![("direction", d.to_string())], bytes(t, d)),
        );
        w.each(
            "netunnel_refused_total",
            "counter",
            "Channels, tunnels, connections and requests refused, by reason.",
            &Refusal::ALL,
            |r| (vec![("reason", r.as_str().into())], t.refused(*r)),
        );
        w.each(
            "netunnel_errors_total",
            "counter",
            "Failures of tunnel work, by reason.",
            &Failure::ALL,
            |f| (vec![("reason", f.as_str().into())], t.failed(*f)),
        );
    }

    fn tunnels_to(&self, w: &mut Writer) {
        let rows: Vec<Row<'_>> = self
            .tunnels
            .iter()
            .map(|t| (tunnel_labels(t), &t.counts))
            .collect();
        w.traffic("netunnel_tunnel", "one tunnel", &rows);
        let reason = Refusal::ConnectionLimit;
        w.each(
            "netunnel_tunnel_refused_total",
            "counter",
            "Connections one tunnel refused, by reason.",
            &rows,
            |(labels, counts)| {
                let labels = with(labels.clone(), "reason", reason.as_str());
                (labels, counts.refused(reason))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EndKind, Totals, TunnelLabel, TunnelStats};
    use std::sync::Arc;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    fn stats(totals: &Arc<Totals>, reverse: bool, entrance: &str, exit: &str) -> Arc<TunnelStats> {
        let label = TunnelLabel {
            reverse,
            entrance: entrance.into(),
            exit: exit.into(),
        };
        TunnelStats::new(totals, EndKind::Entrance, label)
    }

    #[test]
    fn every_family_is_typed_once_and_its_samples_are_together() {
        let totals = Arc::new(Totals::default());
        let one = stats(&totals, false, "[::1]:5000", "db.example:5432");
        let two = stats(&totals, true, "127.0.0.1:1", "");
        let mut metrics = Metrics::new(&totals, 1, vec![(3, 1, one), (3, 2, two)], 10);
        metrics.static_tunnels.push(StaticTunnelMetrics {
            peer: "far \"one\"".into(),
            id: 1,
            entrance: "127.0.0.1:20000".into(),
            exit: "127.0.0.1:22".into(),
            online: true,
            counts: Counts::default(),
        });
        let text = metrics.to_prometheus();
        assert!(
            text.contains(r#"netunnel_static_tunnel_online{peer="far \"one\"",static_tunnel="1","#),
            "{text}"
        );
        assert!(text.contains("netunnel_channels 1\n"), "{text}");
        let labels =
            r#"channel="3",tunnel="1",kind="forward",entrance="[::1]:5000",exit="db.example:5432""#;
        assert!(
            text.contains(&format!(
                "netunnel_tunnel_bytes_total{{{labels},direction=\"to_exit\"}} 0\n"
            )),
            "{text}"
        );
        // Each family: one HELP, one TYPE, then only its own samples.
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap_or_default().to_string();
                assert!(seen.insert(current.clone()), "{current} typed twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert_eq!(name, current, "a sample of {name} under {current}");
            }
        }
    }

    #[test]
    fn tunnels_past_the_limit_are_counted_not_listed() {
        let totals = Arc::new(Totals::default());
        let tunnels = (1..=3)
            .rev()
            .map(|id| (1, id, stats(&totals, id == 2, "127.0.0.1:1", "127.0.0.1:2")))
            .collect();
        let metrics = Metrics::new(&totals, 1, tunnels, 2);
        let listed: Vec<u64> = metrics.tunnels.iter().map(|t| t.tunnel).collect();
        assert_eq!(listed, [1, 2]);
        assert_eq!(metrics.unlisted_tunnels, 1);
        assert_eq!((metrics.forward_tunnels, metrics.reverse_tunnels), (2, 1));
    }
}
