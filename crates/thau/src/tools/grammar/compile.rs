//! Schema compilation: a tool's JSON schema becomes the grammar's nodes, refusing what cannot
//! be constrained (naming the schema part).

use super::*;

impl Grammar {
    /// Compile a schema met at frame depth `depth` (the wrapper is depth 1).
    pub(super) fn compile(&mut self, s: &Value, depth: usize) -> std::result::Result<NodeId, String> {
        if depth + 1 > MAX_FRAMES {
            return Err(format!("schemas nested deeper than {} levels cannot be constrained", MAX_FRAMES - 2));
        }
        let Some(obj) = s.as_object() else {
            return match s.as_bool() {
                Some(true) | None => Ok(self.any),
                Some(false) => Err("a `false` schema accepts no value".into()),
            };
        };
        if let Some(c) = obj.get("const") {
            return Ok(self.push(Node::Lit(vec![serde_json::to_vec(c).unwrap_or_default()])));
        }
        if let Some(e) = obj.get("enum") {
            let vals = e.as_array().filter(|a| !a.is_empty()).ok_or("\"enum\" must be a non-empty list")?;
            if vals.len() > MAX_LITERALS {
                return Err(format!("an enum of {} values is over the limit of {MAX_LITERALS}", vals.len()));
            }
            let ts = crate::tools::schema::types(s);
            let mut lits: Vec<Vec<u8>> = Vec::new();
            for v in vals {
                if !ts.is_empty() && !ts.iter().any(|t| crate::tools::schema::has_type(v, t)) {
                    continue;
                }
                let b = serde_json::to_vec(v).unwrap_or_default();
                if !lits.contains(&b) {
                    lits.push(b);
                }
            }
            if lits.is_empty() {
                return Err("no enum value has the declared type".into());
            }
            return Ok(self.push(Node::Lit(lits)));
        }
        let ts = crate::tools::schema::types(s);
        if ts.is_empty() {
            return Ok(self.any);
        }
        let mut members = Vec::new();
        let number = ts.contains(&"number");
        for t in &ts {
            let id = match *t {
                "string" => {
                    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0).min(u32::MAX as u64) as u32;
                    let max = obj
                        .get("maxLength")
                        .and_then(Value::as_u64)
                        .map_or(self.opts.max_string_chars, |m| m.min(u32::MAX as u64) as u32)
                        .max(min);
                    self.push(Node::Str { min, max })
                }
                "integer" if number => continue,
                "integer" => self.compile_int(obj)?,
                "number" => {
                    let bound = |k: &str, ek: &str| {
                        let inc = obj.get(k).and_then(Value::as_f64).map(|v| (v, false));
                        let exc = obj.get(ek).and_then(Value::as_f64).map(|v| (v, true));
                        (inc, exc)
                    };
                    let (lo, elo) = bound("minimum", "exclusiveMinimum");
                    let (hi, ehi) = bound("maximum", "exclusiveMaximum");
                    let min = match (lo, elo) {
                        (Some(a), Some(b)) => Some(if b.0 >= a.0 { b } else { a }),
                        (a, b) => a.or(b),
                    };
                    let max = match (hi, ehi) {
                        (Some(a), Some(b)) => Some(if b.0 <= a.0 { b } else { a }),
                        (a, b) => a.or(b),
                    };
                    let limit = 10f64.powi(NUM_INT_DIGITS as i32);
                    if let (Some(a), Some(b)) = (min, max) {
                        if a.0 > b.0 || (a.0 == b.0 && (a.1 || b.1)) {
                            return Err(format!("no number lies between {} and {}", a.0, b.0));
                        }
                    }
                    if min.is_some_and(|m| m.0 >= limit) || max.is_some_and(|m| m.0 <= -limit) {
                        return Err(format!("number bounds beyond ±1e{NUM_INT_DIGITS} cannot be constrained"));
                    }
                    // Calls write at most NUM_FRAC_DIGITS fraction digits: bounds closer than
                    // that leave nothing to write (and no call could be finished).
                    if NumState::fresh().min_suffix(min, max).is_none() {
                        return Err(format!(
                            "no number with at most {NUM_FRAC_DIGITS} fraction digits lies within the bounds: widen them"
                        ));
                    }
                    self.push(Node::Num { min, max })
                }
                "boolean" => self.bools,
                "null" => self.null,
                "array" => {
                    let item = match obj.get("items") {
                        Some(i) => self.compile(i, depth + 1)?,
                        None => self.any,
                    };
                    let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(u32::MAX as u64) as u32;
                    let max = obj
                        .get("maxItems")
                        .and_then(Value::as_u64)
                        .map_or(self.opts.max_items, |m| m.min(u32::MAX as u64) as u32)
                        .max(min);
                    self.push(Node::Arr { item, min, max })
                }
                "object" => {
                    let props = obj.get("properties").and_then(Value::as_object);
                    let closed = obj.get("additionalProperties") == Some(&Value::Bool(false));
                    match props {
                        None if !closed => self.any_object(),
                        _ => {
                            let props: Vec<(&String, &Value)> = props.map(|p| p.iter().collect()).unwrap_or_default();
                            if props.len() > MAX_PROPERTIES {
                                return Err(format!(
                                    "{} properties is over the limit of {MAX_PROPERTIES}",
                                    props.len()
                                ));
                            }
                            let mut keys = Vec::new();
                            let mut values = Vec::new();
                            for (k, v) in &props {
                                keys.push(serde_json::to_vec(k).unwrap_or_default());
                                values.push(self.compile(v, depth + 1).map_err(|e| format!("{k}: {e}"))?);
                            }
                            let mut required = 0u64;
                            for r in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
                                let i = props
                                    .iter()
                                    .position(|(k, _)| Some(k.as_str()) == r.as_str())
                                    .ok_or_else(|| format!("\"required\" names {r}, which is not a property"))?;
                                required |= 1 << i;
                            }
                            self.push(Node::Obj { keys, values, required })
                        }
                    }
                }
                other => return Err(format!("unknown type '{other}'")),
            };
            members.push(id);
        }
        Ok(if members.len() == 1 { members[0] } else { self.push(Node::Union(members)) })
    }

    pub(super) fn any_object(&mut self) -> NodeId {
        self.push(Node::AnyObj)
    }

    pub(super) fn compile_int(&mut self, obj: &serde_json::Map<String, Value>) -> std::result::Result<NodeId, String> {
        let limit = 10i128.pow(INT_DIGITS as u32) - 1;
        let f = |k: &str| obj.get(k).and_then(Value::as_f64);
        let mut min = -limit;
        let mut max = limit;
        if let Some(m) = f("minimum") {
            min = min.max(m.ceil().max(-1e30) as i128);
        }
        if let Some(m) = f("exclusiveMinimum") {
            min = min.max(m.floor().max(-1e30) as i128 + 1);
        }
        if let Some(m) = f("maximum") {
            max = max.min(m.floor().min(1e30) as i128);
        }
        if let Some(m) = f("exclusiveMaximum") {
            max = max.min(m.ceil().min(1e30) as i128 - 1);
        }
        let mult = match f("multipleOf") {
            None => 1,
            Some(m) if m >= 1.0 && m.fract() == 0.0 && m < 1e18 => m as i128,
            Some(m) => return Err(format!("multipleOf {m} for an integer must be a whole number >= 1")),
        };
        if first_multiple(min, max, mult).is_none() {
            return Err(format!("no integer multiple of {mult} lies in [{min}, {max}]"));
        }
        Ok(self.push(Node::Int { min, max, mult }))
    }
}
