//! Integration tests of the config-service: the real server on port 0, real git repositories
//! made with the `git` CLI, real services loading their configuration from it, and the real
//! third-party clients (PyPI `config-client`, npm `cloud-config-client`).

mod cipher;
mod credentials;
mod git;
mod helpers;
mod https_git;
mod interop;
mod native;
mod refresh;
