# The npm package duroxide-wasm, assembled in build/wasm/package/ after every link of
# the JavaScript module: the module and its .wasm, the SDK (index.mjs), the lower-level
# engine API the playground uses (duroxide.mjs), their types, README and LICENSE.
set(DUROXIDE_PACKAGE_DIR "${CMAKE_CURRENT_BINARY_DIR}/package")
set(DUROXIDE_PACKAGE_SOURCES package.json index.mjs index.d.ts README.md)
add_custom_command(TARGET duroxide_core_js POST_BUILD
  COMMAND ${CMAKE_COMMAND} -E make_directory "${DUROXIDE_PACKAGE_DIR}"
  COMMAND ${CMAKE_COMMAND} -E copy "${CMAKE_CURRENT_BINARY_DIR}/web/duroxide_core.mjs" "${CMAKE_CURRENT_BINARY_DIR}/web/duroxide_core.wasm"
          "${CMAKE_CURRENT_SOURCE_DIR}/wasm/duroxide.mjs" "${CMAKE_CURRENT_SOURCE_DIR}/wasm/duroxide.d.ts"
          "${CMAKE_CURRENT_SOURCE_DIR}/LICENSE" "${DUROXIDE_PACKAGE_DIR}/")
foreach(_file ${DUROXIDE_PACKAGE_SOURCES})
  add_custom_command(TARGET duroxide_core_js POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E copy "${CMAKE_CURRENT_SOURCE_DIR}/wasm/package/${_file}" "${DUROXIDE_PACKAGE_DIR}/${_file}")
  set_property(TARGET duroxide_core_js APPEND PROPERTY LINK_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/wasm/package/${_file}")
endforeach()
set_property(TARGET duroxide_core_js APPEND PROPERTY LINK_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/wasm/package/prejs.js")
