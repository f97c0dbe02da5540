//! `oc-release-signature`: fetch, verify and apply OpenShift release image signatures.
//!
//! The pipeline, one module per stage:
//! [`release`] (parse input) -> [`resolve`] (release digest from the registry) ->
//! [`store`] (download signatures) -> [`verify`] (check them as the cluster will) ->
//! [`configmap`] (build the ConfigMap) -> [`output`] (write files) / cluster apply.
//! [`pipeline`] runs the stages for many releases concurrently.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod configmap;
pub mod error;
pub mod http;
pub mod output;
pub mod pipeline;
pub mod release;
pub mod report;
pub mod resolve;
pub mod store;
pub mod ui;
pub mod verify;
