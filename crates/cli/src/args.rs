//! Command lines the way Kafka's tools read them (joptsimple): `--name value` or `--name=value`,
//! boolean switches, and options that may repeat (`--config k=v --config k2=v2`).

use std::collections::HashMap;

/// One option a tool accepts.
pub struct Opt {
    pub name: &'static str,
    /// Takes a value (else it is a switch).
    pub value: bool,
    pub help: &'static str,
}

/// A command line, parsed against a tool's options.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
}

/// Why a command line was refused; the tool prints it with its usage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Parsed {
    pub fn parse(args: &[String], opts: &[Opt]) -> Result<Parsed, UsageError> {
        let mut parsed = Parsed::default();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(UsageError(format!("unexpected argument: {arg}")));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let opt = opts
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| UsageError(format!("{name} is not a recognized option")))?;
            let value = if opt.value {
                match inline {
                    Some(v) => v,
                    None => {
                        rest.next().cloned().ok_or_else(|| UsageError(format!("Option {name} requires an argument")))?
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(UsageError(format!("Option {name} does not take an argument")));
                }
                String::new()
            };
            let values = parsed.values.entry(opt.name).or_default();
            values.push(value);
            // Kafka's `--producer-props` (argparse nargs='+') takes every value up to the next option.
            if opt.name.ends_with("-props") {
                while let Some(more) = rest.as_slice().first().filter(|a| !a.starts_with("--")) {
                    values.push(more.clone());
                    rest.next();
                }
            }
        }
        Ok(parsed)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value given for `name`, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// The value of `name` parsed as a number, if given.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, UsageError> {
        self.get(name)
            .map(|v| v.trim().parse().map_err(|_| UsageError(format!("Option {name}: '{v}' is not a number"))))
            .transpose()
    }

    /// `key=value` pairs from a repeatable option (`--config`, `--property`, ...).
    pub fn pairs(&self, name: &str) -> Result<Vec<(String, String)>, UsageError> {
        self.all(name)
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| UsageError(format!("Option {name}: '{p}' is not key=value")))
            })
            .collect()
    }
}

/// The usage text: the tool's one-line purpose and its options.
pub fn usage(tool: &str, purpose: &str, opts: &[Opt]) -> String {
    let mut text = format!("{purpose}\nusage: {tool} [options]\n");
    for o in opts {
        let flag = if o.value { format!("--{} <value>", o.name) } else { format!("--{}", o.name) };
        text.push_str(&format!("  {flag:<34} {}\n", o.help));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt { name: "topic", value: true, help: "" },
        Opt { name: "config", value: true, help: "" },
        Opt { name: "create", value: false, help: "" },
    ];

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    /// Values, `=` forms, repeats and switches; unknown options and missing values are errors.
    #[test]
    fn parses_kafka_style() {
        let p = Parsed::parse(&args("--create --topic t --config a=1 --config=b=2"), OPTS).expect("parses");
        assert!(p.has("create"));
        assert_eq!(p.get("topic"), Some("t"));
        assert_eq!(p.pairs("config").expect("pairs"), [("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert!(Parsed::parse(&args("--nope"), OPTS).is_err());
        assert!(Parsed::parse(&args("--topic"), OPTS).is_err());
        assert!(Parsed::parse(&args("stray"), OPTS).is_err());
    }
}
