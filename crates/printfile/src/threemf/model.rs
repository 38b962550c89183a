//! Object names for projects, sliced or not: `Metadata/model_settings.config` (Bambu/Orca XML:
//! `<config><object id><metadata key="name" value/>…<part>…</part></object><plate><metadata
//! key="plater_id"|"plater_name" value/><model_instance><metadata key="object_id"|"identify_id"
//! value/></model_instance></plate></config>`) and the core 3MF `3D/3dmodel.model`
//! (`<model><metadata name="Title">…</metadata><resources><object id name type>…</object>
//! </resources></model>`, 3MF Core Specification §3–4). Both are walked as streams: an inline mesh
//! is read past, never kept.

use std::io::BufRead;

use crate::error::Error;
use crate::threemf::{ModelObject, text};
use crate::xml::{Ev, attr, walk};

use super::slice_info::{MAX_OBJECTS, MAX_PLATES};

/// A plate as model_settings lays it out (unsliced projects have no slice_info).
#[derive(Debug, Default, Clone)]
pub(crate) struct ModelPlate {
    pub index: Option<u32>,
    pub name: Option<String>,
    /// (object_id, identify_id) per instance on the plate.
    pub instances: Vec<(Option<u64>, Option<u64>)>,
}

#[derive(Debug, Default)]
pub(crate) struct ModelSettings {
    pub objects: Vec<ModelObject>,
    pub plates: Vec<ModelPlate>,
}

pub(crate) fn parse_model_settings(
    input: &mut dyn BufRead,
    entry: &str,
) -> Result<ModelSettings, Error> {
    let mut out = ModelSettings::default();
    let mut object: Option<ModelObject> = None;
    let mut plate: Option<ModelPlate> = None;
    let mut instance: Option<(Option<u64>, Option<u64>)> = None;
    walk(input, entry, |ev| match ev {
        Ev::Open {
            name: "object",
            attrs,
            depth: 2,
        } => {
            object = Some(ModelObject {
                id: attr(attrs, "id").and_then(|v| v.trim().parse().ok()),
                name: String::new(),
            });
        }
        Ev::Close {
            name: "object",
            depth: 2,
        } => {
            if let Some(o) = object.take()
                && out.objects.len() < MAX_OBJECTS
            {
                out.objects.push(o);
            }
        }
        Ev::Open {
            name: "metadata",
            attrs,
            depth: 3,
        } => {
            let value = attr(attrs, "value").unwrap_or_default();
            let key = attr(attrs, "key");
            if let Some(o) = object.as_mut()
                && key == Some("name")
            {
                o.name = text(value).unwrap_or_default();
            }
            if let Some(p) = plate.as_mut() {
                match key {
                    Some("plater_id") => p.index = value.trim().parse().ok(),
                    Some("plater_name") => p.name = text(value),
                    _ => {}
                }
            }
        }
        Ev::Open {
            name: "plate",
            depth: 2,
            ..
        } => plate = Some(ModelPlate::default()),
        Ev::Close {
            name: "plate",
            depth: 2,
        } => {
            if let Some(p) = plate.take()
                && out.plates.len() < MAX_PLATES
            {
                out.plates.push(p);
            }
        }
        Ev::Open {
            name: "model_instance",
            depth: 3,
            ..
        } if plate.is_some() => instance = Some((None, None)),
        Ev::Open {
            name: "metadata",
            attrs,
            depth: 4,
        } => {
            if let Some(i) = instance.as_mut() {
                let value = attr(attrs, "value").and_then(|v| v.trim().parse().ok());
                match attr(attrs, "key") {
                    Some("object_id") => i.0 = value,
                    Some("identify_id") => i.1 = value,
                    _ => {}
                }
            }
        }
        Ev::Close {
            name: "model_instance",
            depth: 3,
        } => {
            if let (Some(i), Some(p)) = (instance.take(), plate.as_mut())
                && p.instances.len() < MAX_OBJECTS
            {
                p.instances.push(i);
            }
        }
        _ => {}
    })?;
    Ok(out)
}

/// What the core model part says: title, designer and named objects.
#[derive(Debug, Default)]
pub(crate) struct CoreModel {
    pub title: Option<String>,
    pub designer: Option<String>,
    pub objects: Vec<ModelObject>,
}

pub(crate) fn parse_core_model(input: &mut dyn BufRead, entry: &str) -> Result<CoreModel, Error> {
    let mut out = CoreModel::default();
    let mut meta: Option<(String, String)> = None;
    walk(input, entry, |ev| match ev {
        Ev::Open {
            name: "metadata",
            attrs,
            depth: 2,
        } => {
            meta = attr(attrs, "name").map(|n| (n.to_owned(), String::new()));
        }
        Ev::Text { text: t, depth: 2 } => {
            if let Some((_, value)) = meta.as_mut()
                && value.len() < 1024
            {
                value.push_str(t);
            }
        }
        Ev::Close {
            name: "metadata",
            depth: 2,
        } => {
            if let Some((key, value)) = meta.take() {
                match key.as_str() {
                    "Title" => out.title = text(&value),
                    "Designer" => out.designer = text(&value),
                    _ => {}
                }
            }
        }
        Ev::Open {
            name: "object",
            attrs,
            depth: 3,
        } => {
            if let Some(name) = attr(attrs, "name").and_then(text)
                && out.objects.len() < MAX_OBJECTS
            {
                out.objects.push(ModelObject {
                    id: attr(attrs, "id").and_then(|v| v.trim().parse().ok()),
                    name,
                });
            }
        }
        _ => {}
    })?;
    Ok(out)
}
