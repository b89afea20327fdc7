//! Black-box tests of the real `herald` binary, one module per area, linked into one test binary.

mod support;

mod cluster;
mod config;
mod drain;
mod durability;
mod gateway;
mod interest;
mod keepalive;
mod logs;
mod metrics;
mod native_api;
mod native_webhook;
mod openapi;
mod openim;
mod outage;
mod proxy;
mod readme;
mod rongcloud;
mod rules;
mod tenancy;
mod tencent;
mod token_cli;
