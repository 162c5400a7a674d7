//! The OCPP message generator.
//!
//! Reads the OCA JSON schemas vendored in `crates/ocpp/schemas/{v16,v201,v21}` and writes one Rust
//! module per version (`crates/ocpp/src/<version>/messages.rs`) holding:
//!
//! - a struct per JSON object and an enum per string enumeration, with serde attributes that make
//!   the wire form exactly the schema's (strict: unknown properties and `null` are refused,
//!   `customData` keeps every vendor property);
//! - an implementation of `Validate` per struct for the constraints serde cannot express
//!   (`maxLength`, `minimum`/`maximum`, `multipleOf`, `minItems`/`maxItems`);
//! - the `Action` enumeration, the `Request`/`Response` sums with decoding entry points, and an
//!   implementation of `Call` per request that ties it to its response.
//!
//! Types shared by several schemas are emitted once: two schemas defining the same name must
//! agree on its shape, except that enumerations are merged (the 1.6 schemas list the unit
//! `Hertz` in MeterValues but not in StopTransaction; the specification has one type).
//!
//! The output is deterministic (sorted, pretty-printed by `prettyplease`) so that a test can
//! compare it with the committed files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

/// What differs between the three versions.
struct VersionSpec {
    /// Module and schema directory name.
    module: &'static str,
    /// Human name, for docs.
    title: &'static str,
    /// Suffix of request schema file names (`""` in 1.6, `"Request"` later).
    request_suffix: &'static str,
    /// Actions whose request the charging station sends.
    station_initiated: &'static [&'static str],
    /// Actions either side may send.
    both: &'static [&'static str],
    /// Names for inline (anonymous) objects and enumerations, keyed by `File:json.path[]`.
    inline_names: &'static [(&'static str, &'static str)],
}

const V16_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
];

const V201_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
];

const V21_STATION: &[&str] = &[
    "Authorize",
    "BatterySwap",
    "BootNotification",
    "ClearedChargingLimit",
    "ClosePeriodicEventStream",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateChainStatus",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifyReport",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PublishFirmwareStatusNotification",
    "PullDynamicScheduleUpdate",
    "ReportChargingProfiles",
    "ReportDERControl",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
    "VatNumberValidation",
];

/// 1.6 schemas define most objects and enumerations inline; these are their names in the 1.6
/// specification (section 7, "Types").
const V16_INLINE: &[(&str, &str)] = &[
    ("AuthorizeResponse:idTagInfo", "IdTagInfo"),
    ("AuthorizeResponse:idTagInfo.status", "AuthorizationStatus"),
    ("BootNotificationResponse:status", "RegistrationStatus"),
    (
        "CancelReservationResponse:status",
        "CancelReservationStatus",
    ),
    ("ChangeAvailability:type", "AvailabilityType"),
    ("ChangeAvailabilityResponse:status", "AvailabilityStatus"),
    ("ChangeConfigurationResponse:status", "ConfigurationStatus"),
    ("ClearCacheResponse:status", "ClearCacheStatus"),
    (
        "ClearChargingProfile:chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "ClearChargingProfileResponse:status",
        "ClearChargingProfileStatus",
    ),
    ("DataTransferResponse:status", "DataTransferStatus"),
    ("DiagnosticsStatusNotification:status", "DiagnosticsStatus"),
    ("FirmwareStatusNotification:status", "FirmwareStatus"),
    (
        "GetCompositeSchedule:chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "GetCompositeScheduleResponse:status",
        "GetCompositeScheduleStatus",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    ("GetConfigurationResponse:configurationKey[]", "KeyValue"),
    ("MeterValues:meterValue[]", "MeterValue"),
    ("MeterValues:meterValue[].sampledValue[]", "SampledValue"),
    (
        "MeterValues:meterValue[].sampledValue[].context",
        "ReadingContext",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].format",
        "ValueFormat",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].measurand",
        "Measurand",
    ),
    ("MeterValues:meterValue[].sampledValue[].phase", "Phase"),
    (
        "MeterValues:meterValue[].sampledValue[].location",
        "Location",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].unit",
        "UnitOfMeasure",
    ),
    ("RemoteStartTransaction:chargingProfile", "ChargingProfile"),
    (
        "RemoteStartTransaction:chargingProfile.chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingProfileKind",
        "ChargingProfileKindType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.recurrencyKind",
        "RecurrencyKindType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    (
        "RemoteStartTransactionResponse:status",
        "RemoteStartStopStatus",
    ),
    (
        "RemoteStopTransactionResponse:status",
        "RemoteStartStopStatus",
    ),
    ("ReserveNowResponse:status", "ReservationStatus"),
    ("Reset:type", "ResetType"),
    ("ResetResponse:status", "ResetStatus"),
    (
        "SendLocalList:localAuthorizationList[]",
        "AuthorizationData",
    ),
    (
        "SendLocalList:localAuthorizationList[].idTagInfo",
        "IdTagInfo",
    ),
    (
        "SendLocalList:localAuthorizationList[].idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("SendLocalList:updateType", "UpdateType"),
    ("SendLocalListResponse:status", "UpdateStatus"),
    ("SetChargingProfile:csChargingProfiles", "ChargingProfile"),
    (
        "SetChargingProfile:csChargingProfiles.chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingProfileKind",
        "ChargingProfileKindType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.recurrencyKind",
        "RecurrencyKindType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    ("SetChargingProfileResponse:status", "ChargingProfileStatus"),
    ("StartTransactionResponse:idTagInfo", "IdTagInfo"),
    (
        "StartTransactionResponse:idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("StatusNotification:errorCode", "ChargePointErrorCode"),
    ("StatusNotification:status", "ChargePointStatus"),
    ("StopTransaction:reason", "Reason"),
    ("StopTransaction:transactionData[]", "TransactionData"),
    (
        "StopTransaction:transactionData[].sampledValue[]",
        "TransactionDataSampledValue",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].context",
        "ReadingContext",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].format",
        "ValueFormat",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].measurand",
        "Measurand",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].phase",
        "Phase",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].location",
        "Location",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].unit",
        "UnitOfMeasure",
    ),
    ("StopTransactionResponse:idTagInfo", "IdTagInfo"),
    (
        "StopTransactionResponse:idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("TriggerMessage:requestedMessage", "MessageTrigger"),
    ("TriggerMessageResponse:status", "TriggerMessageStatus"),
    ("UnlockConnectorResponse:status", "UnlockStatus"),
];

const VERSIONS: &[VersionSpec] = &[
    VersionSpec {
        module: "v16",
        title: "OCPP 1.6 (edition 2, with the security extension)",
        request_suffix: "",
        station_initiated: V16_STATION,
        both: &["DataTransfer"],
        inline_names: V16_INLINE,
    },
    VersionSpec {
        module: "v201",
        title: "OCPP 2.0.1",
        request_suffix: "Request",
        station_initiated: V201_STATION,
        both: &["DataTransfer"],
        inline_names: &[],
    },
    VersionSpec {
        module: "v21",
        title: "OCPP 2.1",
        request_suffix: "Request",
        station_initiated: V21_STATION,
        both: &["DataTransfer"],
        inline_names: &[],
    },
];

/// A field or item type.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Str {
        max_len: Option<u64>,
        date_time: bool,
        uri: bool,
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Num {
        min: Option<f64>,
        max: Option<f64>,
        multiple_of: Option<f64>,
    },
    Bool,
    /// No type given: any JSON value.
    Any,
    /// A generated struct or enum.
    Named(String),
    Array {
        item: Box<Ty>,
        min: Option<u64>,
        max: Option<u64>,
    },
}

#[derive(Debug, Clone)]
struct Field {
    json: String,
    ty: Ty,
    required: bool,
    doc: Option<String>,
}

#[derive(Debug, Clone)]
enum Def {
    Struct {
        doc: Option<String>,
        fields: Vec<Field>,
        /// `additionalProperties` is not false: unknown properties are kept.
        open: bool,
    },
    Enum {
        doc: Option<String>,
        values: Vec<String>,
    },
}

impl Def {
    /// Shape equality, ignoring documentation.
    fn same_shape(&self, other: &Def) -> bool {
        match (self, other) {
            (
                Def::Struct {
                    fields: a,
                    open: oa,
                    ..
                },
                Def::Struct {
                    fields: b,
                    open: ob,
                    ..
                },
            ) => {
                oa == ob
                    && a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.json == y.json && x.ty == y.ty && x.required == y.required)
            }
            _ => false,
        }
    }
}

/// One message schema.
struct Message {
    action: String,
    is_request: bool,
    type_name: String,
    file: String,
}

struct Gen<'a> {
    spec: &'a VersionSpec,
    defs: BTreeMap<String, Def>,
    messages: Vec<Message>,
}

/// Generates every version module; returns `(path, contents)` pairs.
pub fn generate(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for spec in VERSIONS {
        let dir = root.join("crates/ocpp/schemas").join(spec.module);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut g = Gen {
            spec,
            defs: BTreeMap::new(),
            messages: Vec::new(),
        };
        for file in &files {
            g.load(file)?;
        }
        let tokens = g.emit()?;
        let parsed: syn::File = syn::parse2(tokens).context("generated code does not parse")?;
        let text = format!(
            "// @generated by `cargo xtask codegen` from crates/ocpp/schemas/{}: do not edit.\n{}",
            spec.module,
            prettyplease::unparse(&parsed)
        );
        out.push((
            root.join("crates/ocpp/src")
                .join(spec.module)
                .join("messages.rs"),
            text,
        ));
    }
    Ok(out)
}

impl Gen<'_> {
    fn load(&mut self, file: &Path) -> Result<()> {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| anyhow!("bad file name {}", file.display()))?
            .to_string();
        let text = std::fs::read_to_string(file)?;
        let schema: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .with_context(|| format!("parsing {}", file.display()))?;
        let (action, is_request) = if let Some(a) = stem.strip_suffix("Response") {
            (a.to_string(), false)
        } else if !self.spec.request_suffix.is_empty() {
            match stem.strip_suffix(self.spec.request_suffix) {
                Some(a) => (a.to_string(), true),
                // 2.1 `NotifyPeriodicEventStream` is a SEND message: no suffix, no response.
                None => (stem.clone(), true),
            }
        } else {
            (stem.clone(), true)
        };
        let type_name = format!(
            "{action}{}",
            if is_request { "Request" } else { "Response" }
        );
        let ctx = FileCtx {
            stem: &stem,
            definitions: schema.get("definitions"),
        };
        let def = self.object_def(&schema, &ctx, "")?;
        self.register(&type_name, def)?;
        self.messages.push(Message {
            action,
            is_request,
            type_name,
            file: file
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string(),
        });
        Ok(())
    }

    fn register(&mut self, name: &str, def: Def) -> Result<()> {
        match self.defs.get_mut(name) {
            None => {
                self.defs.insert(name.to_string(), def);
            }
            Some(existing) => match (existing, &def) {
                (Def::Enum { values, .. }, Def::Enum { values: new, .. }) => {
                    for v in new {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }
                }
                (existing, def) => {
                    if !existing.same_shape(def) {
                        bail!(
                            "{}: two schemas define `{name}` differently",
                            self.spec.module
                        );
                    }
                }
            },
        }
        Ok(())
    }

    fn object_def(&mut self, node: &Value, ctx: &FileCtx<'_>, path: &str) -> Result<Def> {
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let sub = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let ty = self.ty_of(prop, ctx, &sub)?;
                fields.push(Field {
                    json: name.clone(),
                    ty,
                    required: required.contains(&name.as_str()),
                    doc: doc_of(prop),
                });
            }
        }
        for r in &required {
            if !fields.iter().any(|f| f.json == *r) {
                bail!("{}:{path}: required `{r}` is not a property", ctx.stem);
            }
        }
        let open = node.get("additionalProperties") != Some(&Value::Bool(false));
        Ok(Def::Struct {
            doc: doc_of(node),
            fields,
            open,
        })
    }

    fn ty_of(&mut self, node: &Value, ctx: &FileCtx<'_>, path: &str) -> Result<Ty> {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let key = r
                .strip_prefix("#/definitions/")
                .ok_or_else(|| anyhow!("{}: unsupported $ref {r}", ctx.stem))?;
            let target = ctx
                .definitions
                .and_then(|d| d.get(key))
                .ok_or_else(|| anyhow!("{}: dangling $ref {r}", ctx.stem))?;
            let name = key.strip_suffix("Type").unwrap_or(key).to_string();
            return self.named(target, ctx, path, name);
        }
        let ty = node.get("type").and_then(Value::as_str);
        if node.get("enum").is_some() || ty == Some("object") {
            let name = self.inline_name(ctx, path)?;
            return self.named(node, ctx, path, name);
        }
        Ok(match ty {
            Some("string") => Ty::Str {
                max_len: node.get("maxLength").and_then(Value::as_u64),
                date_time: node.get("format").and_then(Value::as_str) == Some("date-time"),
                uri: node.get("format").and_then(Value::as_str) == Some("uri"),
            },
            Some("integer") => Ty::Int {
                min: node.get("minimum").and_then(as_i64_lossless),
                max: node.get("maximum").and_then(as_i64_lossless),
            },
            Some("number") => Ty::Num {
                min: node.get("minimum").and_then(Value::as_f64),
                max: node.get("maximum").and_then(Value::as_f64),
                multiple_of: node.get("multipleOf").and_then(Value::as_f64),
            },
            Some("boolean") => Ty::Bool,
            Some("array") => {
                let items = node
                    .get("items")
                    .ok_or_else(|| anyhow!("{}:{path}: array without items", ctx.stem))?;
                Ty::Array {
                    item: Box::new(self.ty_of(items, ctx, &format!("{path}[]"))?),
                    min: node.get("minItems").and_then(Value::as_u64),
                    max: node.get("maxItems").and_then(Value::as_u64),
                }
            }
            None => Ty::Any,
            Some(other) => bail!("{}:{path}: unsupported type {other}", ctx.stem),
        })
    }

    fn named(&mut self, node: &Value, ctx: &FileCtx<'_>, path: &str, name: String) -> Result<Ty> {
        if let Some(values) = node.get("enum").and_then(Value::as_array) {
            let values = values
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("{}:{path}: non-string enum value", ctx.stem))
                })
                .collect::<Result<Vec<_>>>()?;
            self.register(
                &name,
                Def::Enum {
                    doc: doc_of(node),
                    values,
                },
            )?;
            return Ok(Ty::Named(name));
        }
        match node.get("type").and_then(Value::as_str) {
            Some("object") => {
                let def = self.object_def(node, ctx, path)?;
                self.register(&name, def)?;
                Ok(Ty::Named(name))
            }
            // A definition that is only a primitive: use it in place.
            _ => {
                let mut plain = node.clone();
                if let Some(o) = plain.as_object_mut() {
                    o.remove("$ref");
                }
                self.ty_of(&plain, ctx, path)
            }
        }
    }

    fn inline_name(&self, ctx: &FileCtx<'_>, path: &str) -> Result<String> {
        let key = format!("{}:{path}", ctx.stem);
        self.spec
            .inline_names
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| {
                anyhow!(
                    "{}: no name for the inline type at `{key}`",
                    self.spec.module
                )
            })
    }

    fn emit(&self) -> Result<TokenStream> {
        let mut items = TokenStream::new();
        for (name, def) in &self.defs {
            items.extend(match def {
                Def::Struct { doc, fields, open } => {
                    self.emit_struct(name, doc.as_deref(), fields, *open)?
                }
                Def::Enum { doc, values } => emit_enum(name, doc.as_deref(), values)?,
            });
        }
        let glue = self.emit_glue()?;
        let title = format!(
            " Messages and types of {}, generated from the OCA JSON schemas.",
            self.spec.title
        );
        Ok(quote! {
            #![doc = #title]
            #![allow(
                clippy::upper_case_acronyms,
                clippy::large_enum_variant,
                clippy::doc_lazy_continuation,
                missing_docs
            )]

            use serde::{Deserialize, Serialize};
            use crate::validate::{Validate, Violation, check};

            #items
            #glue
        })
    }

    fn emit_struct(
        &self,
        name: &str,
        doc: Option<&str>,
        fields: &[Field],
        open: bool,
    ) -> Result<TokenStream> {
        let ident = ident(name);
        let doc = doc_attr(doc);
        let deny = if open {
            quote!()
        } else {
            quote!(#[serde(deny_unknown_fields)])
        };
        let mut field_tokens = TokenStream::new();
        let mut checks = TokenStream::new();
        let mut all_optional = true;
        for f in fields {
            let fident = field_ident(&f.json);
            let json = &f.json;
            let fdoc = doc_attr(f.doc.as_deref());
            let ty = self.rust_ty(&f.ty);
            if f.required {
                all_optional = false;
                field_tokens.extend(quote! {
                    #fdoc
                    #[serde(rename = #json)]
                    pub #fident: #ty,
                });
                if let Some(check) = self.check_expr(&f.ty, quote!(value)) {
                    checks.extend(quote! {
                        {
                            let value = &self.#fident;
                            #check.map_err(|v| v.at(#json))?;
                        }
                    });
                }
            } else {
                field_tokens.extend(quote! {
                    #fdoc
                    #[serde(rename = #json, default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::wire::present")]
                    pub #fident: Option<#ty>,
                });
                if let Some(check) = self.check_expr(&f.ty, quote!(value)) {
                    checks.extend(quote! {
                        if let Some(value) = &self.#fident {
                            #check.map_err(|v| v.at(#json))?;
                        }
                    });
                }
            }
        }
        if open {
            field_tokens.extend(quote! {
                /// Properties beyond the schema's, kept as they came (vendor extensions).
                #[serde(flatten)]
                pub extra: serde_json::Map<String, serde_json::Value>,
            });
        }
        let default = if all_optional {
            quote!(Default,)
        } else {
            quote!()
        };
        let self_unused = if checks.is_empty() {
            quote!(let _ = self;)
        } else {
            quote!()
        };
        Ok(quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, #default Serialize, Deserialize)]
            #deny
            pub struct #ident {
                #field_tokens
            }

            impl Validate for #ident {
                fn validate(&self) -> Result<(), Violation> {
                    #self_unused
                    #checks
                    Ok(())
                }
            }
        })
    }

    fn rust_ty(&self, ty: &Ty) -> TokenStream {
        match ty {
            Ty::Str {
                date_time: true, ..
            } => quote!(crate::Timestamp),
            Ty::Str { .. } => quote!(String),
            Ty::Int { .. } => quote!(i64),
            Ty::Num { .. } => quote!(f64),
            Ty::Bool => quote!(bool),
            Ty::Any => quote!(serde_json::Value),
            Ty::Named(n) => {
                let i = ident(n);
                quote!(#i)
            }
            Ty::Array { item, .. } => {
                let inner = self.rust_ty(item);
                quote!(Vec<#inner>)
            }
        }
    }

    /// An expression of type `Result<(), Violation>` checking `value` (a reference), or `None`
    /// when serde's typing already is the whole check.
    fn check_expr(&self, ty: &Ty, value: TokenStream) -> Option<TokenStream> {
        match ty {
            Ty::Str {
                max_len: Some(n),
                uri: false,
                ..
            } => {
                let n = *n as usize;
                Some(quote!(check::max_len(#value, #n)))
            }
            Ty::Str {
                max_len, uri: true, ..
            } => {
                let max = opt_tokens(max_len.map(|m| {
                    let m = m as usize;
                    quote!(#m)
                }));
                Some(quote!(check::uri(#value, #max)))
            }
            Ty::Str { .. } | Ty::Bool | Ty::Any => None,
            Ty::Int {
                min: None,
                max: None,
            } => None,
            Ty::Int { min, max } => {
                let min = opt_tokens(min.map(|m| quote!(#m)));
                let max = opt_tokens(max.map(|m| quote!(#m)));
                Some(quote!(check::int_range(*#value, #min, #max)))
            }
            Ty::Num {
                min: None,
                max: None,
                multiple_of: None,
            } => None,
            Ty::Num {
                min,
                max,
                multiple_of,
            } => {
                let min = opt_tokens(min.map(|m| quote!(#m)));
                let max = opt_tokens(max.map(|m| quote!(#m)));
                let mo = opt_tokens(multiple_of.map(|m| quote!(#m)));
                Some(quote!(check::num_range(*#value, #min, #max, #mo)))
            }
            Ty::Named(n) => match self.defs.get(n) {
                Some(Def::Struct { .. }) => Some(quote!(Validate::validate(#value))),
                _ => None,
            },
            Ty::Array { item, min, max } => {
                let min = opt_tokens(min.map(|m| {
                    let m = m as usize;
                    quote!(#m)
                }));
                let max = opt_tokens(max.map(|m| {
                    let m = m as usize;
                    quote!(#m)
                }));
                let struct_item = matches!(&**item, Ty::Named(n) if matches!(self.defs.get(n), Some(Def::Struct { .. })));
                if struct_item {
                    return Some(quote!(check::array(#value, #min, #max, Validate::validate)));
                }
                match self.check_expr(item, quote!(item)) {
                    Some(inner) => Some(quote!(check::array(#value, #min, #max, |item| #inner))),
                    None => Some(quote!(check::items(#value.len(), #min, #max))),
                }
            }
        }
    }

    fn emit_glue(&self) -> Result<TokenStream> {
        let mut actions: BTreeMap<&str, (Option<&Message>, Option<&Message>)> = BTreeMap::new();
        for m in &self.messages {
            let e = actions.entry(m.action.as_str()).or_default();
            if m.is_request {
                e.0 = Some(m);
            } else {
                e.1 = Some(m);
            }
        }
        let module = self.spec.module;
        let version = match module {
            "v16" => quote!(crate::Version::V16),
            "v201" => quote!(crate::Version::V201),
            _ => quote!(crate::Version::V21),
        };
        let mut variants = TokenStream::new();
        let mut all = TokenStream::new();
        let mut as_str = TokenStream::new();
        let mut from_name = TokenStream::new();
        let mut initiator = TokenStream::new();
        let mut req_schema = TokenStream::new();
        let mut resp_schema = TokenStream::new();
        let mut req_variants = TokenStream::new();
        let mut resp_variants = TokenStream::new();
        let mut req_action = TokenStream::new();
        let mut resp_action = TokenStream::new();
        let mut req_decode = TokenStream::new();
        let mut resp_decode = TokenStream::new();
        let mut req_validate = TokenStream::new();
        let mut resp_validate = TokenStream::new();
        let mut calls = TokenStream::new();
        for (action, (req, resp)) in &actions {
            let req = req.ok_or_else(|| anyhow!("{module}: {action} has no request schema"))?;
            let a = ident(action);
            let doc = format!(" `{action}`");
            variants.extend(quote!(#[doc = #doc] #a,));
            all.extend(quote!(Action::#a,));
            as_str.extend(quote!(Action::#a => #action,));
            from_name.extend(quote!(#action => Some(Action::#a),));
            let who = if self.spec.both.contains(action) {
                quote!(crate::Initiator::Either)
            } else if self.spec.station_initiated.contains(action) {
                quote!(crate::Initiator::Station)
            } else {
                quote!(crate::Initiator::Csms)
            };
            initiator.extend(quote!(Action::#a => #who,));
            let req_path = format!("../../schemas/{module}/{}", req.file);
            req_schema.extend(quote!(Action::#a => include_str!(#req_path),));
            let rq = ident(&req.type_name);
            req_variants.extend(quote!(#a(#rq),));
            req_action.extend(quote!(Request::#a(_) => Action::#a,));
            req_decode.extend(quote!(Action::#a => crate::validate::decode(payload, include_str!(#req_path)).map(Request::#a),));
            req_validate.extend(quote!(Request::#a(m) => m.validate(),));
            match resp {
                Some(resp) => {
                    let resp_path = format!("../../schemas/{module}/{}", resp.file);
                    resp_schema.extend(quote!(Action::#a => Some(include_str!(#resp_path)),));
                    let rs = ident(&resp.type_name);
                    resp_variants.extend(quote!(#a(#rs),));
                    resp_action.extend(quote!(Response::#a(_) => Action::#a,));
                    resp_decode.extend(quote!(Action::#a => crate::validate::decode(payload, include_str!(#resp_path)).map(Response::#a).map(Some),));
                    resp_validate.extend(quote!(Response::#a(m) => m.validate(),));
                    calls.extend(quote! {
                        impl crate::Call for #rq {
                            type Action = Action;
                            type Response = #rs;
                            const ACTION: Action = Action::#a;
                            const ACTION_NAME: &'static str = #action;
                            const VERSION: crate::Version = #version;
                            fn response_schema() -> &'static str { include_str!(#resp_path) }
                        }
                    });
                }
                None => {
                    resp_schema.extend(quote!(Action::#a => None,));
                    resp_decode.extend(quote!(Action::#a => Ok(None),));
                }
            }
        }
        Ok(quote! {
            /// Every action (message name) of this version.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum Action { #variants }

            impl Action {
                /// All actions, in name order.
                pub const ALL: &'static [Action] = &[#all];

                /// The action's name on the wire.
                pub const fn as_str(self) -> &'static str {
                    match self { #as_str }
                }

                /// The action with this wire name, if this version has it (names are case-sensitive).
                pub fn from_name(name: &str) -> Option<Action> {
                    match name { #from_name _ => None }
                }

                /// Which side sends this action's request.
                pub const fn initiator(self) -> crate::Initiator {
                    match self { #initiator }
                }

                /// The OCA schema of the request, verbatim.
                pub const fn request_schema(self) -> &'static str {
                    match self { #req_schema }
                }

                /// The OCA schema of the response, verbatim; `None` for messages without one.
                pub const fn response_schema(self) -> Option<&'static str> {
                    match self { #resp_schema }
                }
            }

            impl std::fmt::Display for Action {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            /// A request of any action.
            #[derive(Debug, Clone, PartialEq, Serialize)]
            #[serde(untagged)]
            pub enum Request { #req_variants }

            impl Request {
                /// The request's action.
                pub fn action(&self) -> Action {
                    match self { #req_action }
                }

                /// Parses and validates a request payload against the action's schema.
                pub fn decode(action: Action, payload: &str) -> Result<Request, Violation> {
                    match action { #req_decode }
                }
            }

            impl Validate for Request {
                fn validate(&self) -> Result<(), Violation> {
                    match self { #req_validate }
                }
            }

            /// A response of any action that has one.
            #[derive(Debug, Clone, PartialEq, Serialize)]
            #[serde(untagged)]
            pub enum Response { #resp_variants }

            impl Response {
                /// The action this responds to.
                pub fn action(&self) -> Action {
                    match self { #resp_action }
                }

                /// Parses and validates a response payload; `Ok(None)` for actions without a response.
                pub fn decode(action: Action, payload: &str) -> Result<Option<Response>, Violation> {
                    match action { #resp_decode }
                }
            }

            impl Validate for Response {
                fn validate(&self) -> Result<(), Violation> {
                    match self { #resp_validate }
                }
            }

            #calls
        })
    }
}

struct FileCtx<'a> {
    stem: &'a str,
    definitions: Option<&'a Value>,
}

fn emit_enum(name: &str, doc: Option<&str>, values: &[String]) -> Result<TokenStream> {
    let ident = ident(name);
    let doc = doc_attr(doc);
    let mut variants = TokenStream::new();
    let mut as_str = TokenStream::new();
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        let vname = variant_name(v);
        if seen.contains(&vname) {
            bail!("{name}: two values map to variant {vname}");
        }
        seen.push(vname.clone());
        let vi = ident_str(&vname);
        variants.extend(quote! {
            #[serde(rename = #v)]
            #vi,
        });
        as_str.extend(quote!(#ident::#vi => #v,));
    }
    Ok(quote! {
        #doc
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum #ident { #variants }

        impl #ident {
            /// The value's spelling on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { #as_str }
            }
        }
    })
}

fn doc_of(node: &Value) -> Option<String> {
    let raw = node.get("description")?.as_str()?;
    // Drop the data-dictionary lines (`Sampled_ Value. Measurand. Measurand_ Code`, `urn:...`):
    // they name the concept, the prose after them explains it.
    let lines: Vec<String> = raw
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("urn:") && !l.contains("_ "))
        .map(|l| {
            l.replace("&gt;", ">")
                .replace("&lt;", "<")
                .replace("&amp;", "&")
        })
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n"))
    }
}

fn doc_attr(doc: Option<&str>) -> TokenStream {
    match doc {
        None => quote!(),
        Some(d) => {
            let mut t = TokenStream::new();
            for line in d.lines() {
                // Keep rustdoc from reading schema prose as markdown code or links.
                let line = format!(
                    " {}",
                    line.replace('[', "\\[")
                        .replace(']', "\\]")
                        .replace('<', "\\<")
                        .replace('>', "\\>")
                );
                t.extend(quote!(#[doc = #line]));
            }
            t
        }
    }
}

fn opt_tokens(t: Option<TokenStream>) -> TokenStream {
    match t {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    }
}

fn as_i64_lossless(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

fn ident_str(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `idTagInfo` → `id_tag_info`, `evseId` → `evse_id`, `type` → `r#type`.
fn field_ident(json: &str) -> Ident {
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    match out.as_str() {
        "type" | "ref" | "use" | "mod" | "match" | "async" | "self" | "loop" | "move" => {
            format_ident!("r#{}", out)
        }
        _ => ident_str(&out),
    }
}

/// `Energy.Active.Import.Register` → `EnergyActiveImportRegister`, `L1-N` → `L1N`,
/// `eMAID` → `EMAID`, `15118` → `V15118`.
fn variant_name(value: &str) -> String {
    let mut out = String::new();
    for piece in value.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = piece.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed generated code is what the generator writes today.
    #[test]
    fn generated_code_is_fresh() {
        let root = crate::workspace_root();
        let files = generate(&root).expect("generator runs");
        for (path, text) in files {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                current == text,
                "{} is stale: run `cargo xtask codegen`",
                path.display()
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(field_ident("idTagInfo").to_string(), "id_tag_info");
        assert_eq!(field_ident("evseId").to_string(), "evse_id");
        assert_eq!(field_ident("type").to_string(), "r#type");
        assert_eq!(field_ident("ocppCSMSURL").to_string(), "ocpp_csmsurl");
        assert_eq!(field_ident("EVSE").to_string(), "evse");
        assert_eq!(field_ident("iccid").to_string(), "iccid");
        assert_eq!(
            variant_name("Energy.Active.Import.Register"),
            "EnergyActiveImportRegister"
        );
        assert_eq!(variant_name("L1-N"), "L1N");
        assert_eq!(variant_name("eMAID"), "EMAID");
        assert_eq!(variant_name("15118"), "V15118");
    }
}
