// The dashboard's static files (web/ and the pinned uPlot of web/node_modules), embedded in the
// gtsim binary at build time by cmake/embed_assets.cmake: no file or CDN is read at run time.
#pragma once

#include <optional>
#include <string_view>

namespace gtsim {

// The bytes of the asset served as /`name` (e.g. "index.html", "uPlot.iife.min.js"), or
// nullopt when there is none.
std::optional<std::string_view> UiAsset(std::string_view name);

}  // namespace gtsim
