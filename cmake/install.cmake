# `cmake --install`: the bitnet binary, the public header, and libbitnet.so with a CMake package, so
# another project can `find_package(bitnet)` and link `bitnet::bitnet`.
#
# The library is shared so that its private dependencies (PCRE2, XRT) stay inside it and the consumer
# needs nothing but the header: bitnet_api goes in whole, the lower layers contribute what it uses.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(bitnet_lib SHARED cmake/empty.cpp)
target_link_libraries(bitnet_lib PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,bitnet_api>")
target_include_directories(bitnet_lib INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(bitnet_lib PROPERTIES OUTPUT_NAME bitnet EXPORT_NAME bitnet
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
target_compile_features(bitnet_lib INTERFACE cxx_std_20)

install(TARGETS bitnet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS bitnet_lib EXPORT bitnetTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/bitnet/bitnet.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/bitnet)
install(EXPORT bitnetTargets NAMESPACE bitnet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bitnet)
configure_package_config_file(cmake/bitnetConfig.cmake.in ${PROJECT_BINARY_DIR}/bitnetConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bitnet)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bitnetConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bitnetConfig.cmake ${PROJECT_BINARY_DIR}/bitnetConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bitnet)
