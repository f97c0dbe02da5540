#![allow(dead_code)]

pub mod apiserver;
pub mod fronts;
pub mod peers;
pub mod tripwire;
