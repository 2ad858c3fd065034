//! Entry point of the kscope web app (the page's main thread).

fn main() {
    console_error_panic_hook::set_once();
    yew::Renderer::<kscope_web::app::App>::new().render();
}
