# Data-parallel training (tests/test_dist.c): runs without MPI too (its MPI tests then skip,
# saying why); with MPI it launches `mpirun` itself (HS_MPIEXEC).
hs_add_test(dist test_dist.c)
find_package(Threads REQUIRED)
target_link_libraries(test_dist PRIVATE Threads::Threads)
if(HS_WITH_MPI)
  target_compile_definitions(test_dist PRIVATE HS_MPIEXEC="${MPIEXEC_EXECUTABLE}")
endif()
