//! Where a budget or a cost applies: the whole gateway, a namespace or one service.

use std::fmt;

/// What a budget or a cost is counted for. It fills the `namespace` and `service` labels
/// of every family: a global scope leaves both empty, a namespace leaves `service` empty.
///
/// ```
/// use abacus_inference::Scope;
///
/// assert_eq!(Scope::Global.label_values(), ["", ""]);
/// assert_eq!(Scope::namespace("ai").label_values(), ["ai", ""]);
/// assert_eq!(Scope::service("ai", "gateway").label_values(), ["ai", "gateway"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything the gateway serves.
    Global,
    /// One namespace.
    Namespace(String),
    /// One service within a namespace.
    Service {
        /// The namespace the service belongs to.
        namespace: String,
        /// The service.
        service: String,
    },
}

impl Scope {
    /// A namespace scope.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Scope::Namespace(namespace.into())
    }

    /// A service within `namespace`.
    pub fn service(namespace: impl Into<String>, service: impl Into<String>) -> Self {
        Scope::Service {
            namespace: namespace.into(),
            service: service.into(),
        }
    }

    /// The values of the `namespace` and `service` labels.
    pub fn label_values(&self) -> [&str; 2] {
        match self {
            Scope::Global => ["", ""],
            Scope::Namespace(namespace) => [namespace, ""],
            Scope::Service { namespace, service } => [namespace, service],
        }
    }
}

/// `namespace/service`, with an empty part where the scope leaves one out.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [namespace, service] = self.label_values();
        write!(f, "{namespace}/{service}")
    }
}
