//! Every route is registered through `Routes`, which records (method, path) as it builds the router,
//! so the authorisation matrix test can check that no route is left out of it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

use crate::AppState;

#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    entries: Vec<(Method, &'static str)>,
}

macro_rules! verb {
    ($name:ident, $method:ident) => {
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.on(Method::$method, MethodFilter::$method, path, handler)
        }
    };
}

impl Routes {
    verb!(get, GET);
    verb!(post, POST);
    verb!(patch, PATCH);
    verb!(delete, DELETE);

    fn on<H, T>(
        mut self,
        method: Method,
        filter: MethodFilter,
        path: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.entries.push((method, path));
        // axum merges method routers registered for the same path.
        self.router = self.router.route(path, on(filter, handler));
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.entries.extend(other.entries);
        self.router = self.router.merge(other.router);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<(Method, &'static str)>) {
        (self.router, self.entries)
    }
}
