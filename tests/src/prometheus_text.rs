//! A strict reader of Prometheus' text exposition format (version 0.0.4), for scraping the
//! examples' `GET /metrics`: every line must parse, every sample must belong to a family
//! declared with `# TYPE` before it, and every histogram must be complete (cumulative buckets
//! ending in `le="+Inf"`, equal to its `_count`). Any violation is an `Err` naming the line.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name, e.g. `rxscale_webhook_deliveries_total` or `..._bucket`.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition: the declared family types and the samples, in order.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Family name to its `# TYPE`: `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub types: BTreeMap<String, String>,
    /// Every sample.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    /// Every sample of `name`.
    pub fn samples_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |sample| sample.name == name)
    }
}

/// Parses `text`, strictly.
///
/// # Errors
///
/// The first violation, with its line number.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_metric_name(name) {
                        return Err(fail("bad metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(fail("unknown type"));
                    }
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(fail("family typed twice"));
                    }
                }
                (Some("TYPE"), ..) => return Err(fail("incomplete TYPE")),
                (Some("HELP"), Some(name), _) if !is_metric_name(name) => {
                    return Err(fail("bad metric name"));
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| fail(&why))?;
        if family_of(&sample.name, &exposition.types).is_none() {
            return Err(fail("sample of a family without # TYPE before it"));
        }
        exposition.samples.push(sample);
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

fn family_of<'a>(name: &str, types: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some(kind) = types.get(name) {
        return Some(kind);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let family = name.strip_suffix(suffix)?;
        types
            .get(family)
            .filter(|kind| *kind == "histogram" || (*kind == "summary" && *suffix != "_bucket"))
            .map(String::as_str)
    })
}

/// A series' labels other than `le`.
type Labels = Vec<(String, String)>;

fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    let histograms = exposition
        .types
        .iter()
        .filter(|(_, kind)| *kind == "histogram");
    for (family, _) in histograms {
        // Series of the family: labels without `le`.
        let mut buckets: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in exposition.samples_named(&format!("{family}_bucket")) {
            let le = sample
                .labels
                .get("le")
                .ok_or_else(|| format!("{family}_bucket without le"))?;
            let le = parse_value(le).ok_or_else(|| format!("{family}: bad le {le:?}"))?;
            let series = sample
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            buckets.entry(series).or_default().push((le, sample.value));
        }
        for (series, bounds) in buckets {
            if !bounds
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            {
                return Err(format!("{family} {series:?}: buckets not cumulative"));
            }
            let Some(&(last_le, total)) = bounds.last() else {
                continue;
            };
            if last_le != f64::INFINITY {
                return Err(format!("{family} {series:?}: no +Inf bucket"));
            }
            let labels: Vec<(&str, &str)> = series
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count = exposition.value(&format!("{family}_count"), &labels);
            if count != Some(total) {
                return Err(format!(
                    "{family} {series:?}: _count {count:?} != +Inf {total}"
                ));
            }
            if exposition
                .value(&format!("{family}_sum"), &labels)
                .is_none()
            {
                return Err(format!("{family} {series:?}: no _sum"));
            }
        }
    }
    Ok(())
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("bad metric name".to_owned());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let label = &rest[..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            let mut chars = rest[eq + 1..].char_indices();
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".to_owned());
            }
            let mut value = String::new();
            let mut end = None;
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        _ => return Err("bad escape".to_owned()),
                    },
                    '"' => {
                        end = Some(eq + 1 + at + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("unterminated label value")?;
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            rest = &rest[end..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = fields.next().ok_or("no value")?;
    let value = parse_value(value).ok_or_else(|| format!("bad value {value:?}"))?;
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err(format!("bad timestamp {timestamp:?}"));
    }
    if fields.next().is_some() {
        return Err("trailing fields".to_owned());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_value(value: &str) -> Option<f64> {
    match value {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => value.parse().ok(),
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_exposition_and_refuses_broken_ones() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{outcome=\"x\\\"y\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
        let exposition = parse(text).unwrap();
        assert_eq!(
            exposition.value("a_total", &[("outcome", "x\"y")]),
            Some(3.0)
        );
        assert_eq!(exposition.value("h_count", &[]), Some(2.0));
        for broken in [
            "a_total 1\n",                                                       // no TYPE
            "# TYPE a counter\na{b=c} 1\n",                                      // unquoted
            "# TYPE a counter\na 1 2 3\n",                                       // trailing
            "# TYPE a counter\na x\n",                                           // value
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n",    // no +Inf
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 1\n", // count
        ] {
            assert!(parse(broken).is_err(), "{broken:?}");
        }
    }
}
