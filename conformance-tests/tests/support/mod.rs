//! Shared by the example backend's test and the planted-bug tests.
#![allow(dead_code, unreachable_pub)]

pub mod btree_store;
