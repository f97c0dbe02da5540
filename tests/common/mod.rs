#![allow(dead_code)]

pub mod apiserver;
pub mod peers;
pub mod tripwire;
