# The etcd backend's tests. Included from tests/CMakeLists.txt, after store_conformance_tests is
# defined:
#     include(store_conformance/etcd_tests.cmake)
#
#   etcd_store_tests        the backend's own cases (etcd_store_test.cc). The ones without a
#                           cluster (EtcdTxn, EtcdUrl, EtcdStore.*, and EtcdStandIn.*, against a
#                           stand-in member) are discovered as ctest tests; the cluster ones
#                           (EtcdStoreTest.*) skip without KELPIE_TEST_ETCD_ENDPOINTS.
#   etcd_fault_child        the writer/checker of the fault test.
#   store_etcd_conformance  etcd_conformance_test.sh: starts a 3-member cluster on 127.0.0.1
#                           (scripts/etcd-cluster), runs every etcd case of store_conformance_tests
#                           and etcd_store_tests against it (a skipped case fails), then the fault
#                           test (kill one member, then two, restart; every acked commit kept),
#                           and the etcd cases of actor_backend_tests (registry, fencing, actors).

add_executable(etcd_store_tests
    ${CMAKE_CURRENT_LIST_DIR}/etcd_store_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/backends.cc)
target_include_directories(etcd_store_tests PRIVATE ${PROJECT_SOURCE_DIR})
# kelpie_etcd_proto directly (it brings gRPC): the test reaches into the backend's private Txn
# builder and compacts the cluster with a raw gRPC call.
target_link_libraries(etcd_store_tests PRIVATE kelpie_store kelpie_io kelpie_base
    kelpie_etcd_proto GTest::gtest GTest::gtest_main)
gtest_discover_tests(etcd_store_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120
    TEST_FILTER "EtcdTxn.*:EtcdUrl.*:EtcdStore.*:EtcdStandIn.*")

add_executable(etcd_fault_child ${CMAKE_CURRENT_LIST_DIR}/etcd_fault_child.cc)
target_include_directories(etcd_fault_child PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(etcd_fault_child PRIVATE kelpie_store kelpie_io kelpie_base)

add_test(NAME store_etcd_conformance
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/etcd_conformance_test.sh
            $<TARGET_FILE:store_conformance_tests> $<TARGET_FILE:etcd_fault_child>
            $<TARGET_FILE:etcd_store_tests> $<TARGET_FILE:actor_backend_tests>)
# Real time and a real cluster: run alone so that load from other tests cannot stretch elections.
set_tests_properties(store_etcd_conformance PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
