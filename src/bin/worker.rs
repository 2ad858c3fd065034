//! Entry point of the simulation web worker (built by trunk as `worker.js`).

use gloo_worker::Registrable;
use kscope_web::worker::SimWorker;

fn main() {
    console_error_panic_hook::set_once();
    SimWorker::registrar().register();
}
