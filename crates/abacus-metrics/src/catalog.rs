//! The registration path: from a key the recorder has not seen to an abacus series.
//!
//! A `metrics` name may come with different label names from one call to the next, while
//! an abacus family has fixed label names. So each name maps to one abacus family per set
//! of label names, all registered with [`Desc::shared_name`]: the registry keeps them
//! together and the exporter writes them as one metric family, with one `# HELP` and
//! `# TYPE`. Everything here runs once per new key, under a lock, and never on a record.

use std::collections::HashMap;
use std::sync::Arc;

use abacus::{Desc, Family, Registry};
use metrics::{Key, KeyName, SharedString, Unit};
use parking_lot::{Mutex, RwLock};

use crate::builder::Config;
use crate::kinds::{Kind, Shared};
use crate::sanitize;
use crate::{Refusal, RefusalReason};

/// What a recorder registers through: the registry, the builder's settings and what the
/// handles share.
pub(crate) struct Context<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) config: &'a Config,
    pub(crate) shared: &'a Shared,
}

/// The names of one kind, their descriptions and their families.
pub(crate) struct Catalog<K: Kind> {
    state: RwLock<State<K>>,
}

struct State<K: Kind> {
    /// The last description of each name as given, so that describing a name again with
    /// the same text (which the macros' `description:` argument does on every call) costs
    /// a read lock and a comparison.
    given: HashMap<String, (Option<Unit>, SharedString)>,
    /// The last description of each sanitized name: `a.b` and `a_b` describe one family.
    descriptions: HashMap<String, Description>,
    /// Every name registered so far, by sanitized name.
    names: HashMap<String, Name<K>>,
}

#[derive(Clone, Default)]
struct Description {
    help: String,
    unit: Option<Unit>,
}

/// One registered name and its abacus families.
struct Name<K: Kind> {
    /// What the families are registered as: the sanitized name, with the unit and `_total`
    /// of recommended naming.
    exposed: String,
    /// The description the name was first registered with. Families that share a name
    /// share their help text, so later label sets take this one too.
    description: Description,
    /// The families, by sorted label names.
    families: HashMap<Vec<String>, Family<K::Core>>,
}

impl<K: Kind> Default for Catalog<K> {
    fn default() -> Self {
        Catalog {
            state: RwLock::new(State {
                given: HashMap::new(),
                descriptions: HashMap::new(),
                names: HashMap::new(),
            }),
        }
    }
}

impl<K: Kind> Catalog<K> {
    /// Records the description of `name`, for the registrations that follow.
    // TODO: a description given after the name's first registration is kept but not
    // rendered: the core fixes a family's help text when it is registered. Describe names
    // before recording into them, as is the custom with the `metrics` facade.
    pub(crate) fn describe(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        {
            let state = self.state.read();
            if let Some((known_unit, known)) = state.given.get(name.as_str()) {
                if *known_unit == unit && *known == description {
                    return;
                }
            }
        }
        // An empty name describes nothing: a key with it is refused.
        let Some(sanitized) = sanitize::metric_name(name.as_str()) else {
            return;
        };
        let help = sanitize::help(&description);
        let mut state = self.state.write();
        state
            .given
            .insert(name.as_str().to_owned(), (unit, description));
        state
            .descriptions
            .insert(sanitized, Description { help, unit });
    }

    /// The handle for a key the recorder has not seen, or why it is refused.
    #[cold]
    pub(crate) fn register(&self, key: &Key, context: &Context<'_>) -> Result<Arc<K>, Refusal> {
        let refusal = |reason| Refusal {
            kind: K::KIND,
            name: key.name().to_owned(),
            reason,
        };
        let name =
            sanitize::metric_name(key.name()).ok_or_else(|| refusal(RefusalReason::EmptyName))?;
        let global = &context.config.global_labels;
        let histogram = K::KIND == metrics_util::MetricKind::Histogram;
        let (label_names, values) = series_labels(global, key, histogram).map_err(refusal)?;
        let family = self
            .family(&name, label_names, context)
            .map_err(|error| refusal(RefusalReason::Registry(error)))?;
        let core = family
            .with_labels(&values)
            .map_err(|error| refusal(RefusalReason::Registry(error)))?;
        Ok(Arc::new(K::wrap(core, context.shared)))
    }

    /// The family of `name` with `label_names`, registered on first use.
    fn family(
        &self,
        name: &str,
        label_names: Vec<String>,
        context: &Context<'_>,
    ) -> Result<Family<K::Core>, abacus::Error> {
        let mut state = self.state.write();
        let State {
            descriptions,
            names,
            ..
        } = &mut *state;
        let entry = names.entry(name.to_owned()).or_insert_with(|| {
            let description = descriptions.get(name).cloned().unwrap_or_default();
            Name {
                exposed: context.config.exposed_name(name, K::KIND, description.unit),
                description,
                families: HashMap::new(),
            }
        });
        if let Some(family) = entry.families.get(&label_names) {
            return Ok(family.clone());
        }
        let mut desc = Desc::new(&*entry.exposed, &*entry.description.help)
            .labels(label_names.iter().map(String::as_str))
            .shared_name();
        if let Some(unit) = exposed_unit(&entry.exposed, entry.description.unit) {
            desc = desc.unit(unit);
        }
        if let Some(timeout) = context.config.idle_timeout_of(K::KIND) {
            desc = desc.idle_timeout(timeout);
        }
        let family = K::register(context.registry, desc, context.config, name)?;
        entry.families.insert(label_names, family.clone());
        Ok(family)
    }
}

/// The unit for an OpenMetrics `# UNIT` line, when the exposed name ends with it (for
/// counters, before `_total`), as OpenMetrics requires: with recommended naming, or when
/// the caller named the metric that way. Otherwise the unit only shaped the name.
fn exposed_unit(exposed: &str, unit: Option<Unit>) -> Option<&'static str> {
    let unit = sanitize::unit_name(unit?)?;
    let base = exposed.strip_suffix("_total").unwrap_or(exposed);
    let rest = base.strip_suffix(unit)?;
    (rest.len() > 1 && rest.ends_with('_')).then_some(unit)
}

/// The sanitized label names of a series, sorted, and their values in the same order.
///
/// Global labels come first and the key's labels after them, so where two share a name
/// after sanitizing, the key's wins, and of two in one key the later one. A label whose
/// value is empty is left out: Prometheus treats an empty value as no label at all, and
/// keeping it would make `x{a=""}` and `x` two lines of one series.
fn series_labels<'a>(
    global: &'a [(String, String)],
    key: &'a Key,
    histogram: bool,
) -> Result<(Vec<String>, Vec<&'a str>), RefusalReason> {
    let given = global
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(key.labels().map(|label| (label.key(), label.value())));
    let mut labels = Vec::new();
    for (name, value) in given {
        let name = sanitize::label_name(name, histogram).ok_or(RefusalReason::EmptyLabelName)?;
        labels.push((name, value));
    }
    // A stable sort keeps labels of one name in the order given, the winner last.
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<String> = Vec::with_capacity(labels.len());
    let mut values: Vec<&str> = Vec::with_capacity(labels.len());
    for (name, value) in labels {
        if names.last() == Some(&name) {
            if let Some(last) = values.last_mut() {
                *last = value;
            }
        } else {
            names.push(name);
            values.push(value);
        }
    }
    let (names, values) = names
        .into_iter()
        .zip(values)
        .filter(|(_, value)| !value.is_empty())
        .unzip();
    Ok((names, values))
}

/// The keys a recorder refused, kept for [`PrometheusHandle::refusals`].
///
/// [`PrometheusHandle::refusals`]: crate::PrometheusHandle::refusals
#[derive(Default)]
pub(crate) struct Refusals {
    inner: Mutex<(Vec<Refusal>, u64)>,
}

impl Refusals {
    /// How many refusals are kept; later ones are only counted, so that a program that
    /// keeps making bad keys cannot grow this without bound.
    pub(crate) const KEPT: usize = 100;

    pub(crate) fn add(&self, refusal: Refusal) {
        let mut inner = self.inner.lock();
        let (kept, total) = &mut *inner;
        // Two threads may race to register the same new key; count it once.
        if kept.contains(&refusal) {
            return;
        }
        *total += 1;
        if kept.len() < Self::KEPT {
            kept.push(refusal);
        }
    }

    /// The first refusals and how many there were in all.
    pub(crate) fn get(&self) -> (Vec<Refusal>, u64) {
        let inner = self.inner.lock();
        (inner.0.clone(), inner.1)
    }
}
