//! The discovery locator (`discovery.locator.*`): one route per registered service, built the
//! way Spring's `DiscoveryClientRouteDefinitionLocator` builds it.
//!
//! For each service with UP instances that pass `include-expression` (by default every
//! service but config-service and discovery-service: [`DEFAULT_INCLUDE`]; the last such instance
//! stands for the service): id `route-id-prefix` + the service id as registered, uri from
//! `url-expression` (default `'lb://'+serviceId`), the instance's metadata, and the locator's
//! own `predicates` and `filters` — each argument a SpEL expression over the instance, whose
//! `serviceId` is lower-cased with `lower-case-service-id`. Without predicates the route gets
//! `Path='/'+serviceId+'/**'`; without filters, a RewritePath that strips that first segment.

use indexmap::IndexMap;
use platform::{
    Settings,
    discovery::{Applications, InstanceInfo, Status},
};

use crate::{
    definition::{Definition, RouteDefinition, gateway_section, list_definitions},
    spel::{self, Expression},
};

/// The default `include-expression`: every registered service but the configuration and
/// discovery servers, whose routes would publish every service's settings (decrypted) and the
/// registry's write API at the edge.
pub const DEFAULT_INCLUDE: &str =
    "serviceId != 'CONFIG-SERVICE' && serviceId != 'DISCOVERY-SERVICE'";

/// The locator's settings, read once per rebuild.
#[derive(Debug)]
pub struct Locator {
    route_id_prefix: String,
    lower_case_service_id: bool,
    include: Option<Expression>,
    url: Expression,
    predicates: Vec<CompiledDefinition>,
    filters: Vec<CompiledDefinition>,
}

/// A predicate or filter whose argument values are expressions.
#[derive(Debug)]
struct CompiledDefinition {
    name: String,
    args: Vec<(String, Expression)>,
}

impl CompiledDefinition {
    fn compile(definition: &Definition) -> Result<Self, String> {
        let args = definition
            .args
            .iter()
            .map(|(key, value)| Ok((key.clone(), Expression::parse(value)?)))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            name: definition.name.clone(),
            args,
        })
    }

    fn evaluate(&self, instance: &Instance<'_>) -> Result<Definition, String> {
        let mut args = IndexMap::new();
        for (key, expression) in &self.args {
            let value = expression
                .evaluate(instance)?
                .into_text()
                .unwrap_or_default();
            args.insert(key.clone(), value);
        }
        Ok(Definition {
            name: self.name.clone(),
            args,
        })
    }

    fn default(name: &str, args: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_owned(),
            args: args
                .iter()
                .map(|(k, v)| {
                    let expression = Expression::parse(v).expect("the built-in expressions parse");
                    ((*k).to_owned(), expression)
                })
                .collect(),
        }
    }
}

impl Locator {
    /// The locator, when `discovery.locator.enabled`; `Err` names a setting that does not
    /// parse.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, String> {
        let section = gateway_section(settings, "discovery.locator");
        if !section.flag("enabled", false).map_err(|e| e.to_string())? {
            return Ok(None);
        }
        let setting = |key: &str| section.get(key);
        let expression = |key: &str, default: &str| -> Result<Expression, String> {
            let text = setting(key).filter(|t| !t.trim().is_empty());
            Expression::parse(text.as_deref().unwrap_or(default))
                .map_err(|e| format!("discovery.locator.{key}: {e}"))
        };
        // Unset, the infrastructure is left out (Spring's default is `true`: every service);
        // a user's expression, `true` included, replaces that default.
        let include = setting("include-expression")
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_INCLUDE.to_owned());
        let include = Some(include)
            .filter(|t| t.trim() != "true")
            .map(|t| Expression::parse(&t))
            .transpose()
            .map_err(|e| format!("discovery.locator.include-expression: {e}"))?;
        let compile_list = |key: &str| -> Result<Vec<CompiledDefinition>, String> {
            list_definitions(settings, &format!("discovery.locator.{key}"))
                .map_err(|e| format!("discovery.locator.{key}: {e}"))?
                .iter()
                .map(CompiledDefinition::compile)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("discovery.locator.{key}: {e}"))
        };
        let mut predicates = compile_list("predicates")?;
        if predicates.is_empty() {
            predicates.push(CompiledDefinition::default(
                "Path",
                &[("pattern", "'/'+serviceId+'/**'")],
            ));
        }
        let mut filters = compile_list("filters")?;
        if filters.is_empty() {
            filters.push(CompiledDefinition::default(
                "RewritePath",
                &[
                    ("regexp", "'/' + serviceId + '/?(?<remaining>.*)'"),
                    ("replacement", "'/${remaining}'"),
                ],
            ));
        }
        Ok(Some(Self {
            route_id_prefix: setting("route-id-prefix")
                .unwrap_or_else(|| "ReactiveCompositeDiscoveryClient_".into()),
            lower_case_service_id: section
                .flag("lower-case-service-id", false)
                .map_err(|e| e.to_string())?,
            include,
            url: expression("url-expression", "'lb://'+serviceId")?,
            predicates,
            filters,
        }))
    }

    /// The routes for the registry's current services, and the problems met (a service whose
    /// expressions fail is left out).
    pub fn routes(&self, registry: &Applications) -> (Vec<RouteDefinition>, Vec<String>) {
        let mut routes = Vec::new();
        let mut errors = Vec::new();
        let mut applications: Vec<_> = registry.applications.iter().collect();
        applications.sort_by(|a, b| a.name.cmp(&b.name));
        for application in applications {
            match self.route(&application.name, &application.instances) {
                Ok(Some(route)) => routes.push(route),
                Ok(None) => {}
                Err(e) => errors.push(format!("discovery route for {}: {e}", application.name)),
            }
        }
        (routes, errors)
    }

    fn route(
        &self,
        service_id: &str,
        instances: &[InstanceInfo],
    ) -> Result<Option<RouteDefinition>, String> {
        let mut chosen = None;
        for instance in instances.iter().filter(|i| i.status == Status::Up) {
            let original = Instance {
                service_id: service_id.to_owned(),
                instance,
            };
            let included = match &self.include {
                None => true,
                Some(expression) => expression.evaluate(&original)?.is_true(),
            };
            if included {
                chosen = Some(original);
            }
        }
        let Some(original) = chosen else {
            return Ok(None);
        };
        let uri = self
            .url
            .evaluate(&original)?
            .into_text()
            .ok_or("url-expression gave null")?;
        let for_arguments = Instance {
            service_id: if self.lower_case_service_id {
                service_id.to_lowercase()
            } else {
                service_id.to_owned()
            },
            instance: original.instance,
        };
        let evaluate = |list: &[CompiledDefinition]| {
            list.iter()
                .map(|d| d.evaluate(&for_arguments))
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(Some(RouteDefinition {
            id: format!("{}{service_id}", self.route_id_prefix),
            uri,
            predicates: evaluate(&self.predicates)?,
            filters: evaluate(&self.filters)?,
            order: 0,
            metadata: original.instance.metadata.clone(),
            enabled: true,
        }))
    }
}

/// One instance as the expressions see it (Spring's `ServiceInstance`).
struct Instance<'a> {
    service_id: String,
    instance: &'a InstanceInfo,
}

impl spel::Root for Instance<'_> {
    fn property(&self, name: &str) -> Option<spel::Value> {
        use spel::Value;
        let secure = self.instance.secure_port.enabled && !self.instance.port.enabled;
        let port = if secure {
            self.instance.secure_port.port
        } else {
            self.instance.port.port
        };
        let scheme = if secure { "https" } else { "http" };
        Some(match name {
            "serviceId" => Value::Text(self.service_id.clone()),
            "host" => Value::Text(self.instance.host_name.clone()),
            "port" => Value::Int(i64::from(port)),
            "instanceId" => Value::Text(
                self.instance
                    .instance_id
                    .clone()
                    .unwrap_or_else(|| self.instance.host_name.clone()),
            ),
            "uri" => Value::Text(format!("{scheme}://{}:{port}", self.instance.host_name)),
            "scheme" => Value::Text(scheme.to_owned()),
            "secure" => Value::Bool(secure),
            "metadata" => Value::Map(self.instance.metadata.clone()),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::discovery::{Application, Applications, InstanceInfo};

    fn registry() -> Applications {
        let mut hidden = InstanceInfo::new("hidden", "127.0.0.1", "127.0.0.1", 9002);
        hidden.metadata.insert("gateway".into(), "false".into());
        Applications {
            applications: vec![
                Application {
                    name: "CUSTOMER-SERVICE".into(),
                    instances: vec![InstanceInfo::new("customer", "10.0.0.7", "10.0.0.7", 8081)],
                },
                Application {
                    name: "HIDDEN".into(),
                    instances: vec![hidden],
                },
            ],
            ..Applications::default()
        }
    }

    fn locator(properties: &[(&str, &str)]) -> Locator {
        let mut all = vec![("spring.cloud.gateway.discovery.locator.enabled", "true")];
        all.extend_from_slice(properties);
        Locator::from_settings(&Settings::from_pairs(&all))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_flag_that_is_not_a_boolean_is_reported_under_either_prefix() {
        for key in [
            "spring.cloud.gateway.discovery.locator.enabled",
            "spring.cloud.gateway.server.webflux.discovery.locator.lower-case-service-id",
        ] {
            let settings = Settings::from_pairs(&[
                ("spring.cloud.gateway.discovery.locator.enabled", "true"),
                (key, "maybe"),
            ]);
            let error = Locator::from_settings(&settings).unwrap_err();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn defaults_route_the_service_id_as_registered() {
        let (routes, errors) = locator(&[]).routes(&registry());
        assert!(errors.is_empty(), "{errors:?}");
        let route = &routes[0];
        assert_eq!(
            route.id,
            "ReactiveCompositeDiscoveryClient_CUSTOMER-SERVICE"
        );
        assert_eq!(route.uri, "lb://CUSTOMER-SERVICE");
        assert_eq!(route.predicates[0].args["pattern"], "/CUSTOMER-SERVICE/**");
        assert_eq!(
            route.filters[0].args["regexp"],
            "/CUSTOMER-SERVICE/?(?<remaining>.*)"
        );
        assert_eq!(route.filters[0].args["replacement"], "/${remaining}");
    }

    #[test]
    fn the_infrastructure_is_left_out_unless_the_user_includes_it() {
        let mut registry = registry();
        for name in ["CONFIG-SERVICE", "DISCOVERY-SERVICE"] {
            registry.applications.push(Application {
                name: name.into(),
                instances: vec![InstanceInfo::new(name, "127.0.0.1", "127.0.0.1", 8888)],
            });
        }
        let ids = |locator: Locator| -> Vec<String> {
            let (routes, errors) = locator.routes(&registry);
            assert!(errors.is_empty(), "{errors:?}");
            routes.into_iter().map(|r| r.uri).collect()
        };
        assert_eq!(
            ids(locator(&[])),
            ["lb://CUSTOMER-SERVICE", "lb://HIDDEN"],
            "by default"
        );
        let everything = [(
            "spring.cloud.gateway.discovery.locator.include-expression",
            "true",
        )];
        assert_eq!(ids(locator(&everything)).len(), 4, "Spring's `true`");
        let own = [(
            "spring.cloud.gateway.discovery.locator.include-expression",
            "serviceId == 'CONFIG-SERVICE'",
        )];
        assert_eq!(ids(locator(&own)), ["lb://CONFIG-SERVICE"]);
    }

    #[test]
    fn expressions_shape_the_routes() {
        let prefix = "spring.cloud.gateway.discovery.locator";
        let keys: Vec<(String, &str)> = [
            ("lower-case-service-id", "true"),
            ("include-expression", "metadata['gateway'] != 'false'"),
            ("url-expression", "'http://' + host + ':' + port"),
            ("predicates[0].name", "Path"),
            ("predicates[0].args.pattern", "'/api/' + serviceId + '/**'"),
        ]
        .iter()
        .map(|(k, v)| (format!("{prefix}.{k}"), *v))
        .collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (routes, _) = locator(&pairs).routes(&registry());
        assert_eq!(routes.len(), 1, "HIDDEN is left out");
        assert_eq!(routes[0].uri, "http://10.0.0.7:8081");
        assert_eq!(
            routes[0].predicates[0].args["pattern"],
            "/api/customer-service/**"
        );
        assert_eq!(routes[0].filters[0].name, "RewritePath");
    }
}
