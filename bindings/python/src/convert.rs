//! Python values to BSON and back, exactly (see the package README for the table): every
//! Python type the package takes has one BSON type, and reading it back gives the same
//! Python type. The `bson` package's classes (pymongo's) are used when it is installed.

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// Containers nest at most this deep (the core refuses deeper arguments anyway).
const MAX_DEPTH: usize = 64;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEZONE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PATTERN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MEMORYVIEW: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BSON_MODULE: PyOnceLock<Option<Py<PyModule>>> = PyOnceLock::new();

fn bson_module(py: Python<'_>) -> Option<&Bound<'_, PyModule>> {
    BSON_MODULE
        .get_or_init(py, || {
            // pymongo's `bson`, recognised by its ObjectId (another package of that name is not it)
            py.import("bson").ok().filter(|m| m.hasattr("ObjectId").unwrap_or(false)).map(Bound::unbind)
        })
        .as_ref()
        .map(|m| m.bind(py))
}

fn utc<'py>(py: Python<'py>) -> PyResult<&'py Bound<'py, PyAny>> {
    TIMEZONE
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("datetime")?.getattr("timezone")?.getattr("utc")?.unbind()))
        .map(|t| t.bind(py))
}

static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ONE_MS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                DATETIME.import(py, "datetime", "datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc(py)?))?.unbind(),
            )
        })
        .map(|t| t.bind(py))
}

fn one_ms(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    ONE_MS
        .get_or_try_init(py, || {
            let kwargs = PyDict::new(py);
            kwargs.set_item("milliseconds", 1)?;
            Ok::<_, PyErr>(py.import("datetime")?.getattr("timedelta")?.call((), Some(&kwargs))?.unbind())
        })
        .map(|t| t.bind(py))
}

fn type_error(value: &Bound<'_, PyAny>, context: &str) -> PyErr {
    let ty = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!(
        "{context}a value of type {ty} cannot be sent: use None, bool, int, float, str, bytes, list, tuple, dict, datetime, re.Pattern, decimal.Decimal, uuid.UUID or a bson type"
    ))
}

/// The BSON value of a Python value.
pub fn to_bson(value: &Bound<'_, PyAny>) -> PyResult<Bson> {
    to_bson_at(value, 0)
}

fn to_bson_at(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Bson> {
    let py = value.py();
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!("arguments nest more than {MAX_DEPTH} levels deep; flatten them")));
    }
    if value.is_none() {
        return Ok(Bson::Null);
    }
    if let Ok(b) = value.cast_exact::<PyBool>() {
        return Ok(Bson::Boolean(b.is_true()));
    }
    // exact built-in types first: their subclasses (the bson package's Code is a str, its
    // Int64 an int) are told apart below
    if let Ok(s) = value.cast_exact::<PyString>() {
        return Ok(Bson::String(s.to_cow()?.into_owned()));
    }
    if let Ok(f) = value.cast_exact::<PyFloat>() {
        return Ok(Bson::Double(f.value()));
    }
    if let Ok(i) = value.cast_exact::<PyInt>() {
        return int_to_bson(i);
    }
    if let Ok(b) = value.cast_exact::<PyBytes>() {
        return Ok(binary(b.as_bytes().to_vec()));
    }
    if let Ok(list) = value.cast_exact::<PyList>() {
        return list.iter().map(|v| to_bson_at(&v, depth + 1)).collect::<PyResult<Vec<_>>>().map(Bson::Array);
    }
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        return to_document(dict, depth).map(Bson::Document);
    }
    if let Some(bson) = bson_special(value, depth)? {
        return Ok(bson);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Bson::String(s.to_cow()?.into_owned()));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Bson::Double(f.value()));
    }
    if let Ok(i) = value.cast::<PyInt>() {
        return int_to_bson(i);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(binary(b.as_bytes().to_vec()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(binary(b.to_vec()));
    }
    if let Ok(list) = value.cast::<PyList>() {
        return list.iter().map(|v| to_bson_at(&v, depth + 1)).collect::<PyResult<Vec<_>>>().map(Bson::Array);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return tuple.iter().map(|v| to_bson_at(&v, depth + 1)).collect::<PyResult<Vec<_>>>().map(Bson::Array);
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        return to_document(dict, depth).map(Bson::Document);
    }
    if value.is_instance(DATETIME.import(py, "datetime", "datetime")?)? {
        // naive datetimes are taken as UTC; aware ones are converted
        let aware = if value.getattr("tzinfo")?.is_none() {
            let kwargs = PyDict::new(py);
            kwargs.set_item("tzinfo", utc(py)?)?;
            value.call_method("replace", (), Some(&kwargs))?
        } else {
            value.clone()
        };
        // whole milliseconds since the epoch, in integers (a float timestamp rounds)
        let since = aware.call_method1("__sub__", (epoch(py)?,))?;
        let millis: i64 = since.call_method1("__floordiv__", (one_ms(py)?,))?.extract()?;
        return Ok(Bson::DateTime(DateTime::from_millis(millis)));
    }
    if value.is_instance(PATTERN.import(py, "re", "Pattern")?)? {
        let pattern: String =
            value.getattr("pattern")?.extract().map_err(|_| type_error(value, "a bytes pattern: "))?;
        let flags: i64 = value.getattr("flags")?.extract()?;
        // re's flag values: IGNORECASE 2, LOCALE 4, MULTILINE 8, DOTALL 16, UNICODE 32, VERBOSE 64
        let mut options = String::new();
        for (bit, c) in [(2, 'i'), (4, 'l'), (8, 'm'), (16, 's'), (32, 'u'), (64, 'x')] {
            if flags & bit != 0 {
                options.push(c);
            }
        }
        let regex = Regex {
            pattern: pattern
                .try_into()
                .map_err(|_| PyValueError::new_err("a regular expression pattern holds a NUL character"))?,
            options: options.try_into().map_err(|_| PyValueError::new_err("bad regular expression options"))?,
        };
        return Ok(Bson::RegularExpression(regex));
    }
    if value.is_instance(DECIMAL.import(py, "decimal", "Decimal")?)? {
        let text: String = value.str()?.extract()?;
        if let Some(d) = decimal_nan(&text) {
            return Ok(Bson::Decimal128(d));
        }
        if text.contains("NaN") {
            return Err(PyValueError::new_err(format!(
                "the Decimal {text} carries a NaN payload, which BSON Decimal128 does not keep; send NaN or sNaN"
            )));
        }
        let d: Decimal128 = text.parse().map_err(|_| {
            PyValueError::new_err(format!(
                "the Decimal {text} does not fit a BSON Decimal128 (at most 34 significant digits, exponent -6176 to 6111)"
            ))
        })?;
        return Ok(Bson::Decimal128(d));
    }
    if value.is_instance(UUID.import(py, "uuid", "UUID")?)? {
        let bytes: Vec<u8> = value.getattr("bytes")?.extract()?;
        return Ok(Bson::Binary(Binary { subtype: BinarySubtype::Uuid, bytes }));
    }
    if value.is_instance(MEMORYVIEW.import(py, "builtins", "memoryview")?)? {
        let bytes: Vec<u8> = value.call_method0("tobytes")?.extract()?;
        return Ok(binary(bytes));
    }
    Err(type_error(value, ""))
}

fn int_to_bson(i: &Bound<'_, PyInt>) -> PyResult<Bson> {
    match i.extract::<i64>() {
        Ok(n) => Ok(i32::try_from(n).map_or(Bson::Int64(n), Bson::Int32)),
        Err(_) => Err(PyOverflowError::new_err(format!(
            "the int {} is outside the 64-bit range of BSON integers (-2**63 to 2**63-1); send it as a str or a decimal.Decimal",
            i.repr()?
        ))),
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })
}

fn to_document(dict: &Bound<'_, PyDict>, depth: usize) -> PyResult<Document> {
    let mut doc = Document::new();
    for (k, v) in dict.iter() {
        let key = k.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "dict keys must be str to be sent, not {}",
                k.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        doc.insert(key.to_cow()?.into_owned(), to_bson_at(&v, depth + 1)?);
    }
    Ok(doc)
}

/// The `bson` package's classes, by class name (only when that package is installed).
fn bson_special(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Option<Bson>> {
    let py = value.py();
    let Some(m) = bson_module(py) else { return Ok(None) };
    let is = |name: &str| -> PyResult<bool> { Ok(m.hasattr(name)? && value.is_instance(&m.getattr(name)?)?) };
    if is("Int64")? {
        return Ok(Some(Bson::Int64(value.extract::<i64>()?)));
    }
    if is("ObjectId")? {
        let binary: Vec<u8> = value.getattr("binary")?.extract()?;
        let bytes: [u8; 12] =
            binary.try_into().map_err(|_| PyValueError::new_err("an ObjectId of other than 12 bytes"))?;
        return Ok(Some(Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))));
    }
    if is("Timestamp")? {
        return Ok(Some(Bson::Timestamp(Timestamp {
            time: value.getattr("time")?.extract()?,
            increment: value.getattr("inc")?.extract()?,
        })));
    }
    if is("DatetimeMS")? {
        return Ok(Some(Bson::DateTime(DateTime::from_millis(value.call_method0("__int__")?.extract()?))));
    }
    if is("MinKey")? {
        return Ok(Some(Bson::MinKey));
    }
    if is("MaxKey")? {
        return Ok(Some(Bson::MaxKey));
    }
    if is("Decimal128")? {
        let d = value.call_method0("to_decimal")?;
        return to_bson_at(&d, depth).map(Some);
    }
    if is("Code")? {
        let code: String = value.str()?.extract()?;
        let scope = value.getattr("scope")?;
        if scope.is_none() {
            return Ok(Some(Bson::JavaScriptCode(code)));
        }
        let scope = to_document(scope.cast::<PyDict>()?, depth + 1)?;
        return Ok(Some(Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code, scope })));
    }
    if is("Regex")? {
        let pattern: String = value.getattr("pattern")?.extract()?;
        let flags: i64 = value.getattr("flags")?.extract()?;
        let mut options = String::new();
        for (bit, c) in [(2, 'i'), (4, 'l'), (8, 'm'), (16, 's'), (32, 'u'), (64, 'x')] {
            if flags & bit != 0 {
                options.push(c);
            }
        }
        return Ok(Some(Bson::RegularExpression(Regex {
            pattern: pattern
                .try_into()
                .map_err(|_| PyValueError::new_err("a regular expression pattern holds a NUL character"))?,
            options: options.try_into().map_err(|_| PyValueError::new_err("bad regular expression options"))?,
        })));
    }
    if is("Binary")? {
        let subtype: u8 = value.getattr("subtype")?.extract()?;
        let bytes: Vec<u8> = value
            .call_method0("__bytes__")
            .or_else(|_| py.import("builtins")?.getattr("bytes")?.call1((value,)))?
            .extract()?;
        return Ok(Some(Bson::Binary(Binary { subtype: BinarySubtype::from(subtype), bytes })));
    }
    Ok(None)
}

/// How 64-bit integers arrive in Python.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Longs {
    /// Plain `int` (default): what a Python sender's int comes back as.
    Int,
    /// The `bson` package's `Int64` (an `int` subclass), when it is installed.
    Int64,
}

/// The Python value of a BSON value.
pub fn to_python<'py>(py: Python<'py>, value: &Bson, longs: Longs) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Bson::Null | Bson::Undefined => py.None().into_bound(py),
        Bson::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Bson::Int32(n) => n.into_pyobject(py)?.into_any(),
        Bson::Int64(n) => match bson_module(py).filter(|_| longs == Longs::Int64) {
            Some(m) => m.getattr("Int64")?.call1((*n,))?,
            None => n.into_pyobject(py)?.into_any(),
        },
        Bson::Double(f) => f.into_pyobject(py)?.into_any(),
        Bson::String(s) | Bson::Symbol(s) => PyString::new(py, s).into_any(),
        Bson::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item, longs)?)?;
            }
            list.into_any()
        }
        Bson::Document(doc) => document_to_python(py, doc, longs)?.into_any(),
        Bson::Binary(b) => match b.subtype {
            BinarySubtype::Generic => PyBytes::new(py, &b.bytes).into_any(),
            BinarySubtype::Uuid if b.bytes.len() == 16 => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("bytes", PyBytes::new(py, &b.bytes))?;
                UUID.import(py, "uuid", "UUID")?.call((), Some(&kwargs))?
            }
            other => match bson_module(py) {
                Some(m) => m.getattr("Binary")?.call1((PyBytes::new(py, &b.bytes), u8::from(other)))?,
                None => PyBytes::new(py, &b.bytes).into_any(),
            },
        },
        Bson::DateTime(dt) => {
            let millis = dt.timestamp_millis();
            let delta = py.import("datetime")?.getattr("timedelta")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("milliseconds", millis)?;
            match delta.call((), Some(&kwargs)).and_then(|d| epoch(py)?.call_method1("__add__", (d,))) {
                Ok(dt) => dt,
                // beyond what datetime holds (years 1 to 9999): the bson package's DatetimeMS
                Err(err) => match bson_module(py).filter(|m| m.hasattr("DatetimeMS").unwrap_or(false)) {
                    Some(m) => m.getattr("DatetimeMS")?.call1((millis,))?,
                    None => return Err(err),
                },
            }
        }
        Bson::RegularExpression(r) => {
            // a str pattern without BSON's u is ASCII-only in Python's terms (re.ASCII):
            // with it, Python patterns cross both ways with their flags exact
            let mut flags = if r.options.as_str().contains('u') { 0i64 } else { 256 };
            for c in r.options.as_str().chars() {
                flags |= match c {
                    'i' => 2,
                    'l' => 4,
                    'm' => 8,
                    's' => 16,
                    'u' => 32,
                    'x' => 64,
                    _ => 0,
                };
            }
            match py.import("re")?.call_method1("compile", (r.pattern.as_str(), flags)) {
                Ok(compiled) => compiled,
                // a pattern Python's re does not take (another engine's syntax): the bson
                // package's Regex keeps it, as pymongo does
                Err(err) => match bson_module(py) {
                    Some(m) => m.getattr("Regex")?.call1((r.pattern.as_str(), r.options.as_str()))?,
                    None => return Err(err),
                },
            }
        }
        Bson::Decimal128(d) => {
            let text = nan_text(d).map_or_else(|| d.to_string(), str::to_owned);
            DECIMAL.import(py, "decimal", "Decimal")?.call1((text,))?
        }
        Bson::ObjectId(oid) => match bson_module(py) {
            Some(m) => m.getattr("ObjectId")?.call1((oid.to_hex(),))?,
            None => PyString::new(py, &oid.to_hex()).into_any(),
        },
        Bson::Timestamp(t) => match bson_module(py) {
            Some(m) => m.getattr("Timestamp")?.call1((t.time, t.increment))?,
            None => PyTuple::new(py, [t.time, t.increment])?.into_any(),
        },
        Bson::MinKey | Bson::MaxKey => match bson_module(py) {
            Some(m) => m.getattr(if matches!(value, Bson::MinKey) { "MinKey" } else { "MaxKey" })?.call0()?,
            None => PyString::new(py, if matches!(value, Bson::MinKey) { "$minKey" } else { "$maxKey" }).into_any(),
        },
        Bson::JavaScriptCode(code) => match bson_module(py) {
            Some(m) => m.getattr("Code")?.call1((code.as_str(),))?,
            None => PyString::new(py, code).into_any(),
        },
        Bson::JavaScriptCodeWithScope(c) => match bson_module(py) {
            Some(m) => m.getattr("Code")?.call1((c.code.as_str(), document_to_python(py, &c.scope, longs)?))?,
            None => PyString::new(py, &c.code).into_any(),
        },
        // deprecated, and no Python type: its Extended JSON, as a dict
        Bson::DbPointer(_) => {
            let ext = value.clone().into_canonical_extjson().to_string();
            py.import("json")?.call_method1("loads", (ext,))?
        }
    })
}

fn document_to_python<'py>(py: Python<'py>, doc: &Document, longs: Longs) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in doc {
        dict.set_item(k, to_python(py, v, longs)?)?;
    }
    Ok(dict)
}

/// The top byte of a Decimal128 (little-endian): sign bit, then the NaN and signalling bits.
const DECIMAL_SIGN: u8 = 0x80;
const DECIMAL_NAN: u8 = 0x7c;
const DECIMAL_SNAN: u8 = 0x7e;

/// NaN, sNaN and their negative forms as Decimal128 bits (the bson crate's parser reads all
/// four as plain NaN; a Python Decimal keeps the sign and the signalling flag).
fn decimal_nan(text: &str) -> Option<Decimal128> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (DECIMAL_SIGN, rest),
        None => (0, text),
    };
    let top = match rest {
        "NaN" => DECIMAL_NAN,
        "sNaN" => DECIMAL_SNAN,
        _ => return None,
    };
    let mut bytes = [0u8; 16];
    bytes[15] = sign | top;
    Some(Decimal128::from_bytes(bytes))
}

/// The text of a NaN Decimal128 with its sign and signalling flag, `None` for a number.
fn nan_text(d: &Decimal128) -> Option<&'static str> {
    let top = d.bytes()[15];
    let negative = top & DECIMAL_SIGN != 0;
    match (top & DECIMAL_SNAN, negative) {
        (DECIMAL_SNAN, false) => Some("sNaN"),
        (DECIMAL_SNAN, true) => Some("-sNaN"),
        (DECIMAL_NAN, false) => Some("NaN"),
        (DECIMAL_NAN, true) => Some("-NaN"),
        _ => None,
    }
}
