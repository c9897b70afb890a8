//! What travels between the load generator, the proxy and the upstream: the path that
//! names route and model, the headers that name the tenant and the trace row, and the
//! upstream's JSON answer with the token counts.

use std::collections::HashMap;

use crate::families::route_of_model;
use crate::trace::{tenant_name, MODELS, ROUTES, TENANTS};

/// The header that names the tenant, as an API gateway's authentication would set it.
pub(crate) const TENANT_HEADER: &str = "x-tenant";
/// The header that names the trace row the upstream answers for.
pub(crate) const ROW_HEADER: &str = "x-trace-row";
/// Every request path starts with this, then `{route}/{model}`.
const PATH_PREFIX: &str = "/v1/";

/// The path of requests for `model` on `route`.
pub(crate) fn path_for(route: usize, model: usize) -> String {
    format!("{PATH_PREFIX}{}/{}", ROUTES[route], MODELS[model].name)
}

/// The route and model a path names, when the gateway serves that model on that route.
pub(crate) fn parse_path(path: &str) -> Option<(usize, usize)> {
    let (route, model) = path.strip_prefix(PATH_PREFIX)?.split_once('/')?;
    let route = ROUTES.iter().position(|r| *r == route)?;
    let model = MODELS.iter().position(|m| m.name == model)?;
    (route_of_model(model) == route).then_some((route, model))
}

/// The tenants the gateway knows, by name: a gateway learns them from its configuration,
/// so the table is built once and only read afterwards.
pub(crate) struct Tenants {
    /// `tenant-00` to `tenant-63`; leaked once so that label values and header values can
    /// borrow them for the life of the process.
    names: Vec<&'static str>,
    by_name: HashMap<&'static str, usize>,
}

impl Tenants {
    pub(crate) fn new() -> Self {
        let names: Vec<&'static str> = (0..TENANTS)
            .map(|tenant| &*Box::leak(tenant_name(tenant).into_boxed_str()))
            .collect();
        let by_name = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        Tenants { names, by_name }
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn name(&self, tenant: usize) -> &'static str {
        self.names[tenant]
    }
}

/// The upstream's answer to a served request.
pub(crate) fn usage_body(row: usize, input_tokens: u64, output_tokens: u64) -> String {
    format!(
        "{{\"row\":{row},\"usage\":{{\"input_tokens\":{input_tokens},\
         \"output_tokens\":{output_tokens}}}}}\n"
    )
}

/// The upstream's answer to a request larger than the model's context window, shaped
/// like a provider's error.
pub(crate) fn refusal_body(row: usize) -> String {
    format!(
        "{{\"row\":{row},\"error\":{{\"type\":\"invalid_request_error\",\
         \"code\":\"context_length_exceeded\"}}}}\n"
    )
}

/// The input and output token counts of an upstream answer. It reads the two fields
/// where the upstream writes them rather than parsing JSON in general: the proxy does
/// this on every request, whatever the backend.
pub(crate) fn parse_usage(body: &[u8]) -> Option<(u64, u64)> {
    Some((
        number_after(body, b"\"input_tokens\":")?,
        number_after(body, b"\"output_tokens\":")?,
    ))
}

fn number_after(body: &[u8], key: &[u8]) -> Option<u64> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_only_the_pairs_the_gateway_serves() {
        for model in 0..MODELS.len() {
            let route = route_of_model(model);
            assert_eq!(parse_path(&path_for(route, model)), Some((route, model)));
        }
        assert_eq!(parse_path("/v1/code/gpt-4o"), None);
        assert_eq!(parse_path("/v1/chat/gpt-5"), None);
        assert_eq!(parse_path("/v2/chat/gpt-4o"), None);
        assert_eq!(parse_path("/v1/chat"), None);
    }

    #[test]
    fn usage_reads_back_what_the_upstream_writes() {
        let body = usage_body(7, 4_808, 10);
        assert_eq!(parse_usage(body.as_bytes()), Some((4_808, 10)));
        assert_eq!(parse_usage(refusal_body(7).as_bytes()), None);
        assert_eq!(
            parse_usage(b"{\"input_tokens\":,\"output_tokens\":3}"),
            None
        );
        assert_eq!(
            parse_usage(b"{\"input_tokens\":99999999999999999999999,\"output_tokens\":3}"),
            None
        );
    }

    #[test]
    fn tenants_are_found_by_name() {
        let tenants = Tenants::new();
        assert_eq!(tenants.index("tenant-00"), Some(0));
        assert_eq!(tenants.index("tenant-63"), Some(63));
        assert_eq!(tenants.index("tenant-64"), None);
        assert_eq!(tenants.name(5), "tenant-05");
    }
}
