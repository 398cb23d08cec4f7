//! Components plugged in lazily: a component's exported interfaces satisfy another component's
//! imports, but the plug is instantiated only when one of its functions is first called, in the
//! caller's store.
//!
//! The gateway imports `blocklist:compiler/compiler`, which only `POST /v1/preview` calls.
//! Composed statically (as `wac plug` or Spin do), the compiler would be instantiated on every
//! request, and its memory reset after each: a third of the instantiation work for nothing on
//! all other requests. Plugged lazily, a request pays for it only when it compiles.
//!
//! Calls cross through the host with dynamically typed values (`wasmtime::component::Val`), which copies their
//! contents once more than a static composition does; that is noise next to a compile.

use crate::state::HostState;
use anyhow::{Context, Result};
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Instance, InstancePre, Linker};

/// A component whose exports are plugged lazily into another's imports.
pub struct LazyPlug {
    pre: InstancePre<HostState>,
    /// The exported interfaces and their functions.
    interfaces: Vec<(String, Vec<String>)>,
}

impl LazyPlug {
    /// Pre-instantiates `component` with `linker` (the host's interfaces).
    pub fn new(engine: &Engine, linker: &Linker<HostState>, component: &Component) -> Result<LazyPlug> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("linking the plugged component to the host")?;
        let ty = component.component_type();
        let interfaces = ty
            .exports(engine)
            .filter_map(|(name, export)| match export.ty {
                ComponentItem::ComponentInstance(i) => Some((
                    name.to_owned(),
                    i.exports(engine)
                        .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                        .map(|(f, _)| f.to_owned())
                        .collect(),
                )),
                _ => None,
            })
            .collect();
        Ok(LazyPlug { pre, interfaces })
    }

    /// Defines, in `linker`, every function of every interface the plug exports that
    /// `importer` imports, each instantiating the plug in the caller's store on first use
    /// (slot `slot` of [`HostState`]'s lazily made instances).
    pub fn add_to_linker(
        self: &Arc<Self>,
        engine: &Engine,
        linker: &mut Linker<HostState>,
        importer: &Component,
        slot: usize,
    ) -> Result<()> {
        let imports = importer.component_type();
        for (interface, funcs) in &self.interfaces {
            if imports.imports(engine).all(|(name, _)| name != interface) {
                continue;
            }
            let mut instance = linker.instance(interface)?;
            for func in funcs {
                let (plug, interface, func_name) = (self.clone(), interface.clone(), func.clone());
                instance.func_new_async(func, move |mut store, _ty, params, results| {
                    let (plug, interface, func_name) = (plug.clone(), interface.clone(), func_name.clone());
                    Box::new(async move {
                        let instance: Instance = match store.data().lazy_instance(slot) {
                            Some(i) => i,
                            None => {
                                let i = plug.pre.instantiate_async(&mut store).await?;
                                store.data_mut().set_lazy_instance(slot, i);
                                i
                            }
                        };
                        let iface = instance.get_export_index(&mut store, None, &interface).ok_or_else(|| {
                            wasmtime::Error::msg(format!("the plugged component does not export {interface}"))
                        })?;
                        let index = instance
                            .get_export_index(&mut store, Some(&iface), &func_name)
                            .ok_or_else(|| wasmtime::Error::msg(format!("{interface} has no function {func_name}")))?;
                        let f = instance.get_func(&mut store, index).ok_or_else(|| {
                            wasmtime::Error::msg(format!("{interface}#{func_name} is not a function"))
                        })?;
                        f.call_async(&mut store, params, results).await
                    })
                })?;
            }
        }
        Ok(())
    }
}
