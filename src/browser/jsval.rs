//! serde between Rust types and plain JS values, written for size.
//!
//! The types keep their serde derives (the same shapes in storage, in messages and in the
//! native tests' JSON); only the format here is ours. It replaces serde-wasm-bindgen, whose
//! descriptive errors cost the wasm ~20 KB of formatting code (f64 printing alone ~14 KB): a
//! value that does not fit its type is [`Invalid`], nothing more, and callers already treat
//! every such value as absent or say what they expected in their own words.
//!
//! Shapes, as serde-wasm-bindgen's `json_compatible()` wrote them: structs and maps are plain
//! objects, sequences arrays, `None` and `()` null, unit variants strings, other variants
//! `{"variant": content}`, integers numbers. Reading, `null` and `undefined` are both "none",
//! and an object property that is `undefined` counts as missing.

use js_sys::{Array, Object, Reflect};
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use serde::ser::{self, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// A value that does not have the shape its type needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value of an unexpected shape")
    }
}

impl std::error::Error for Invalid {}

// Every provided method is overridden: their defaults format a message (and pull the
// formatting code of every type involved into the wasm) that nobody reads.
impl de::Error for Invalid {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Invalid
    }
    fn invalid_type(_: de::Unexpected, _: &dyn de::Expected) -> Self {
        Invalid
    }
    fn invalid_value(_: de::Unexpected, _: &dyn de::Expected) -> Self {
        Invalid
    }
    fn invalid_length(_: usize, _: &dyn de::Expected) -> Self {
        Invalid
    }
    fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
        Invalid
    }
    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        Invalid
    }
    fn missing_field(_: &'static str) -> Self {
        Invalid
    }
    fn duplicate_field(_: &'static str) -> Self {
        Invalid
    }
}

impl ser::Error for Invalid {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Invalid
    }
}

/// `T` as a plain JS value.
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, Invalid> {
    v.serialize(Ser)
}

/// A JS value as `T`, if it has `T`'s shape.
pub fn from_js<T: de::DeserializeOwned>(v: JsValue) -> Result<T, Invalid> {
    T::deserialize(De(v))
}

// ------------------------------------------------------------------------------ reading

/// What a JS value is, decided once and out of line (the generic code below only dispatches).
enum Kind {
    None,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(String),
    Array(Array),
    Object,
}

/// Integers up to 2^53 are exact in a JS number; larger ones are read as floats.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

#[inline(never)]
fn kind(v: &JsValue) -> Kind {
    if v.is_null() || v.is_undefined() {
        Kind::None
    } else if let Some(b) = v.as_bool() {
        Kind::Bool(b)
    } else if let Some(n) = v.as_f64() {
        if n.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&n) {
            Kind::Unsigned(n as u64)
        } else if n.fract() == 0.0 && (-MAX_SAFE..0.0).contains(&n) {
            Kind::Signed(n as i64)
        } else {
            Kind::Float(n)
        }
    } else if let Some(s) = v.as_string() {
        Kind::Str(s)
    } else if Array::is_array(v) {
        Kind::Array(v.clone().unchecked_into())
    } else if v.is_object() {
        Kind::Object
    } else {
        // Symbols, BigInts, functions: nothing a message or storage should hold.
        Kind::None
    }
}

struct De(JsValue);

/// `fn deserialize_<n>(self, visitor)` for each numeric type: a JS number as the integer or float
/// it is (the primitive visitors check the range), anything else [`Invalid`].
macro_rules! number_kinds {
    ($($name:ident)*) => {
        $(
            fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
                match kind(&self.0) {
                    Kind::Unsigned(n) => visitor.visit_u64(n),
                    Kind::Signed(n) => visitor.visit_i64(n),
                    Kind::Float(n) => visitor.visit_f64(n),
                    _ => Err(Invalid),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for De {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match kind(&self.0) {
            Kind::None => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(b),
            Kind::Unsigned(n) => visitor.visit_u64(n),
            Kind::Signed(n) => visitor.visit_i64(n),
            Kind::Float(n) => visitor.visit_f64(n),
            Kind::Str(s) => visitor.visit_string(s),
            Kind::Array(a) => visitor.visit_seq(Seq { array: a, next: 0 }),
            Kind::Object => visitor.visit_map(Props::of(&self.0)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        match enum_parts(self.0) {
            Some((variant, content)) => visitor.visit_enum(Enum { variant, content }),
            None => Err(Invalid),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_unit()
    }

    // Where the type says what it wants, only that kind is tried: each visitor then carries
    // one call, not one for every kind a JS value can have (these are monomorphised per type).
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match self.0.as_string() {
            Some(s) => visitor.visit_string(s),
            None => Err(Invalid),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        self.deserialize_string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        self.deserialize_string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => Err(Invalid),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        if self.0.is_object() && !Array::is_array(&self.0) {
            visitor.visit_map(Props::of(&self.0))
        } else {
            Err(Invalid)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match kind(&self.0) {
            Kind::Array(a) => visitor.visit_seq(Seq { array: a, next: 0 }),
            _ => Err(Invalid),
        }
    }

    number_kinds! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct map
    }
}

/// `"variant"` or `{"variant": content}`: the variant's name and its content (null if none).
#[inline(never)]
fn enum_parts(v: JsValue) -> Option<(String, JsValue)> {
    if let Some(name) = v.as_string() {
        return Some((name, JsValue::NULL));
    }
    if !v.is_object() || Array::is_array(&v) {
        return None;
    }
    let keys = Object::keys(v.unchecked_ref::<Object>());
    if keys.length() != 1 {
        return None;
    }
    let key = keys.get(0);
    let content = Reflect::get(&v, &key).ok()?;
    Some((key.as_string()?, content))
}

struct Seq {
    array: Array,
    next: u32,
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = Invalid;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Invalid> {
        if self.next >= self.array.length() {
            return Ok(None);
        }
        let item = self.array.get(self.next);
        self.next += 1;
        seed.deserialize(De(item)).map(Some)
    }
}

/// An object's own enumerable properties, without those whose value is `undefined`.
struct Props {
    entries: Array,
    next: u32,
    value: JsValue,
}

impl Props {
    #[inline(never)]
    fn of(object: &JsValue) -> Props {
        Props {
            entries: Object::entries(object.unchecked_ref::<Object>()),
            next: 0,
            value: JsValue::UNDEFINED,
        }
    }

    /// The next defined property's key; its value is kept for `next_value_seed`.
    #[inline(never)]
    fn advance(&mut self) -> Option<JsValue> {
        while self.next < self.entries.length() {
            let pair: Array = self.entries.get(self.next).unchecked_into();
            self.next += 1;
            let value = pair.get(1);
            if !value.is_undefined() {
                self.value = value;
                return Some(pair.get(0));
            }
        }
        None
    }
}

impl<'de> MapAccess<'de> for Props {
    type Error = Invalid;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Invalid> {
        match self.advance() {
            Some(key) => seed.deserialize(De(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Invalid> {
        seed.deserialize(De(std::mem::take(&mut self.value)))
    }
}

struct Enum {
    variant: String,
    content: JsValue,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = Invalid;
    type Variant = De;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De), Invalid> {
        let name: de::value::StringDeserializer<Invalid> = self.variant.into_deserializer();
        Ok((seed.deserialize(name)?, De(self.content)))
    }
}

impl<'de> VariantAccess<'de> for De {
    type Error = Invalid;

    fn unit_variant(self) -> Result<(), Invalid> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Invalid> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Invalid> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

// ------------------------------------------------------------------------------ writing

struct Ser;

/// `fn serialize_<n>(self, v) -> JsValue` for each numeric type: `v as f64`.
macro_rules! numbers {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            fn $name(self, v: $ty) -> Result<JsValue, Invalid> {
                Ok(JsValue::from_f64(v as f64))
            }
        )*
    };
}

#[inline(never)]
fn set(object: &JsValue, key: &str, value: &JsValue) -> Result<(), Invalid> {
    super::set_property(object, key, value).map_err(|_| Invalid)
}

/// `{key: value}`.
#[inline(never)]
fn wrapped(key: &str, value: &JsValue) -> Result<JsValue, Invalid> {
    let o: JsValue = Object::new().into();
    set(&o, key, value)?;
    Ok(o)
}

impl ser::Serializer for Ser {
    type Ok = JsValue;
    type Error = Invalid;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSer<SeqSer>;
    type SerializeMap = MapSer;
    type SerializeStruct = StructSer;
    type SerializeStructVariant = VariantSer<StructSer>;

    fn serialize_bool(self, v: bool) -> Result<JsValue, Invalid> {
        Ok(JsValue::from_bool(v))
    }
    // Every number is a JS number (integers beyond 2^53 lose precision, as in JSON).
    numbers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_f32: f32, serialize_f64: f64,
    }
    fn serialize_char(self, v: char) -> Result<JsValue, Invalid> {
        Ok(JsValue::from_str(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<JsValue, Invalid> {
        Ok(JsValue::from_str(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<JsValue, Invalid> {
        Err(Invalid)
    }
    fn serialize_none(self) -> Result<JsValue, Invalid> {
        Ok(JsValue::NULL)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<JsValue, Invalid> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<JsValue, Invalid> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue, Invalid> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<JsValue, Invalid> {
        Ok(JsValue::from_str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<JsValue, Invalid> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<JsValue, Invalid> {
        wrapped(variant, &value.serialize(self)?)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqSer, Invalid> {
        Ok(SeqSer(Array::new()))
    }
    fn serialize_tuple(self, _: usize) -> Result<SeqSer, Invalid> {
        Ok(SeqSer(Array::new()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<SeqSer, Invalid> {
        Ok(SeqSer(Array::new()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<VariantSer<SeqSer>, Invalid> {
        Ok(VariantSer {
            variant,
            inner: SeqSer(Array::new()),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, Invalid> {
        Ok(MapSer {
            object: Object::new().into(),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<StructSer, Invalid> {
        Ok(StructSer(Object::new().into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<VariantSer<StructSer>, Invalid> {
        Ok(VariantSer {
            variant,
            inner: StructSer(Object::new().into()),
        })
    }
}

struct SeqSer(Array);

impl ser::SerializeSeq for SeqSer {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Invalid> {
        self.0.push(&value.serialize(Ser)?);
        Ok(())
    }
    fn end(self) -> Result<JsValue, Invalid> {
        Ok(self.0.into())
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Invalid> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        Ok(self.0.into())
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Invalid> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        Ok(self.0.into())
    }
}

struct StructSer(JsValue);

impl ser::SerializeStruct for StructSer {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Invalid> {
        set(&self.0, key, &value.serialize(Ser)?)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        Ok(self.0)
    }
}

struct MapSer {
    object: JsValue,
    key: Option<String>,
}

impl ser::SerializeMap for MapSer {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Invalid> {
        // Object keys are strings: a key that is not one has no plain-object form.
        self.key = Some(key.serialize(Ser)?.as_string().ok_or(Invalid)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Invalid> {
        let key = self.key.take().ok_or(Invalid)?;
        set(&self.object, &key, &value.serialize(Ser)?)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        Ok(self.object)
    }
}

/// A tuple or struct variant: its content, wrapped as `{"variant": content}` at the end.
struct VariantSer<S> {
    variant: &'static str,
    inner: S,
}

impl ser::SerializeTupleVariant for VariantSer<SeqSer> {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Invalid> {
        ser::SerializeSeq::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        wrapped(self.variant, &self.inner.0.into())
    }
}

impl ser::SerializeStructVariant for VariantSer<StructSer> {
    type Ok = JsValue;
    type Error = Invalid;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Invalid> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<JsValue, Invalid> {
        wrapped(self.variant, &self.inner.0)
    }
}
