// checked_this.h — prototype methods and getters that check `this` before using it.
//
// ObjectWrap's own InstanceMethod/InstanceAccessor unwrap `this` blindly: calling
// `RnnModule.prototype.forward.call(tape, ...)` (or a method of a second copy of the addon on our
// object) would make napi_unwrap hand back a pointer to another C++ class. Here every method is a
// plain function on the prototype that first checks `this` carries the class's type tag
// (AddonData::*_tag) and only then unwraps it. A foreign `this` → TypeError RNNX_INVALID_ARGUMENT.
//
// JS thread only.
#pragma once

#include <string>

#include "addon_data.h"
#include "errors.h"

namespace rnnx::addon {

template <typename W>
using WrapMethod = Napi::Value (W::*)(const Napi::CallbackInfo&);

/// `this` as a W, checked against `tag`. ArgError if it is anything else.
/// `what` names the class with its article ("an RnnModule").
template <typename W>
W& CheckedThis(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* what) {
  Napi::Value self = info.This();
  if (self.IsEmpty() || !self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&tag))
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "this",
                  std::string(what) + " created by this copy of rnnx (a method was called on another object)",
                  self);
  W* w = Napi::ObjectWrap<W>::Unwrap(self.As<Napi::Object>());
  if (w == nullptr) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "this", what, self);
  return *w;
}

/// The N-API callback for method M of W: checks `this` (W::Tag, W::kWhat), then calls M.
template <typename W, WrapMethod<W> M>
Napi::Value CallChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  W* self = nullptr;
  Guard(env, [&] { self = &CheckedThis<W>(info, W::Tag(GetAddonData(env)), W::kWhat); });
  return (self->*M)(info);
}

/// A prototype method (writable, configurable, like a class method).
template <typename W, WrapMethod<W> M>
Napi::PropertyDescriptor CheckedMethod(Napi::Env env, const char* name) {
  return Napi::PropertyDescriptor::Value(name, Napi::Function::New<CallChecked<W, M>>(env, name),
                                         napi_default_method);
}

/// A prototype getter (read-only, configurable).
template <typename W, WrapMethod<W> M>
Napi::PropertyDescriptor CheckedGetter(const char* name) {
  return Napi::PropertyDescriptor::Accessor<CallChecked<W, M>>(name, napi_configurable);
}

/// Defines the class W with no ObjectWrap instance members, then puts `props` on its prototype.
template <typename W>
Napi::Function DefineCheckedClass(Napi::Env env, const char* name,
                                  const std::initializer_list<Napi::PropertyDescriptor>& props) {
  Napi::Function ctor = W::DefineClass(env, name, {});
  ctor.Get("prototype").As<Napi::Object>().DefineProperties(props);
  return ctor;
}

}  // namespace rnnx::addon
