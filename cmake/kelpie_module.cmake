# kelpie_module(NAME <layer> [DEPS <layers>...] [EXTERNAL <targets>...] SOURCES <files>...)
#
# Creates, for one layer (one folder under src/):
#   kelpie_<layer>               a static library; links its DEPS and EXTERNAL targets PRIVATE;
#   kelpie_<layer>_link_test     an executable that links the WHOLE archive with only the declared
#                                dependencies, so an undeclared dependency fails to link;
#   kelpie_<layer>_header_check  an object library compiling each public header (the *.h files at
#                                the top of the folder) alone, so every header is self-contained.
# It also checks, at configure time, that every `#include "<layer>/..."` in the module's files
# names the module itself or a declared dependency: dependencies point downward only.
# The layer table lives in docs/internals/layout.md.

set(KELPIE_LAYERS base io store registry actor cluster llm tools agent server sim main)

function(kelpie_module)
    cmake_parse_arguments(M "" "NAME" "DEPS;EXTERNAL;SOURCES" ${ARGN})
    set(lib kelpie_${M_NAME})
    add_library(${lib} STATIC ${M_SOURCES})
    target_include_directories(${lib} PUBLIC ${PROJECT_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    set(dep_targets "")
    foreach(dep ${M_DEPS})
        list(APPEND dep_targets kelpie_${dep})
    endforeach()
    # Static archives: consumers need the transitive archives at link time; CMake propagates them
    # as link-only dependencies, so upper layers still cannot include what they did not declare.
    target_link_libraries(${lib} PRIVATE ${dep_targets} ${M_EXTERNAL})

    # --- include-direction check (configure time) ---
    file(GLOB_RECURSE module_files ${CMAKE_CURRENT_SOURCE_DIR}/*.h ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
    set(allowed ${M_NAME} ${M_DEPS})
    foreach(f ${module_files})
        file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/")
        foreach(line ${includes})
            string(REGEX MATCH "^#include \"([a-z_]+)/" _ "${line}")
            set(target_layer ${CMAKE_MATCH_1})
            list(FIND KELPIE_LAYERS ${target_layer} is_layer)
            list(FIND allowed ${target_layer} is_allowed)
            if(is_layer GREATER -1 AND is_allowed EQUAL -1)
                message(FATAL_ERROR "${f}: module '${M_NAME}' includes '${target_layer}/', "
                    "which is not among its declared dependencies (${M_DEPS}).")
            endif()
        endforeach()
    endforeach()

    # --- link test: the whole archive, only the declared dependencies ---
    set(link_main ${CMAKE_BINARY_DIR}/generated/link_test_main.cc)
    if(NOT EXISTS ${link_main})
        file(WRITE ${link_main} "int main() { return 0; }\n")
    endif()
    add_executable(${lib}_link_test EXCLUDE_FROM_ALL ${link_main})
    target_link_libraries(${lib}_link_test PRIVATE
        -Wl,--whole-archive ${lib} -Wl,--no-whole-archive ${dep_targets} ${M_EXTERNAL})
    set_property(GLOBAL APPEND PROPERTY KELPIE_LINK_TESTS ${lib}_link_test)

    # --- header check: each public header compiles alone ---
    file(GLOB public_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
    set(check_sources "")
    foreach(h ${public_headers})
        get_filename_component(hname ${h} NAME_WE)
        set(check_cc ${CMAKE_BINARY_DIR}/header_check/${M_NAME}/${hname}.cc)
        file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/src ${h})
        set(content "#include \"${rel}\"\n")
        if(EXISTS ${check_cc})
            file(READ ${check_cc} old)
        else()
            set(old "")
        endif()
        if(NOT old STREQUAL content)
            file(WRITE ${check_cc} "${content}")
        endif()
        list(APPEND check_sources ${check_cc})
    endforeach()
    if(check_sources)
        add_library(${lib}_header_check OBJECT EXCLUDE_FROM_ALL ${check_sources})
        target_include_directories(${lib}_header_check PRIVATE
            ${PROJECT_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
        target_link_libraries(${lib}_header_check PRIVATE ${M_EXTERNAL})
        set_property(GLOBAL APPEND PROPERTY KELPIE_LINK_TESTS ${lib}_header_check)
    endif()
endfunction()

# Call once, after all modules: a target that builds every link test and header check.
function(kelpie_structure_checks)
    get_property(targets GLOBAL PROPERTY KELPIE_LINK_TESTS)
    add_custom_target(structure_checks DEPENDS ${targets})
endfunction()
