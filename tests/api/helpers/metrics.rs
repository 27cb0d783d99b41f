//! `/metrics` scraped as Prometheus would and read with a real parser of its text format
//! (`prometheus-parse`), to look up a series by name and labels.

use prometheus_parse::{HistogramCount, Scrape, Value};

/// One scrape, parsed.
pub struct Scraped {
    pub text: String,
    parsed: Scrape,
}

impl Scraped {
    /// GETs `url` (a `/metrics`), asserting 200 and Prometheus' text format.
    pub async fn get(http: &reqwest::Client, url: &str) -> Scraped {
        let response = http.get(url).send().await.expect("scrape sent");
        assert_eq!(response.status(), 200, "GET {url}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.expect("scrape body");
        let lines = text.lines().map(|line| Ok(line.to_owned()));
        let parsed = Scrape::parse(lines).expect("the scrape parses");
        Scraped { text, parsed }
    }

    /// The samples of `metric` whose labels include `labels`.
    fn matching<'a>(
        &'a self,
        metric: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a prometheus_parse::Sample> {
        self.parsed.samples.iter().filter(move |sample| {
            sample.metric == metric && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(v))
        })
    }

    /// The value of the one counter, gauge or untyped sample of `metric` with `labels`, if any.
    pub fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.matching(metric, labels).map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{metric} is not a single value: {other:?}"),
        });
        let value = found.next();
        assert!(
            found.next().is_none(),
            "{metric} {labels:?} is not one series"
        );
        value
    }

    /// The sum of every sample of `metric` with (at least) `labels`.
    pub fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(metric, labels)
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                other => panic!("{metric} is not a single value: {other:?}"),
            })
            .sum()
    }

    /// The buckets of the histogram `metric` with `labels` (its name without `_bucket`).
    pub fn buckets(&self, metric: &str, labels: &[(&str, &str)]) -> Vec<HistogramCount> {
        let mut found = self
            .matching(metric, labels)
            .filter_map(|s| match &s.value {
                Value::Histogram(buckets) => Some(buckets.clone()),
                _ => None,
            });
        let buckets = found
            .next()
            .unwrap_or_else(|| panic!("no histogram {metric} {labels:?}:\n{}", self.text));
        assert!(
            found.next().is_none(),
            "{metric} {labels:?} is not one series"
        );
        buckets
    }

    /// The label values `label` takes among the samples of `metric`.
    pub fn label_values(&self, metric: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .matching(metric, &[])
            .filter_map(|s| s.labels.get(label).map(str::to_owned))
            .collect();
        values.sort();
        values.dedup();
        values
    }
}
