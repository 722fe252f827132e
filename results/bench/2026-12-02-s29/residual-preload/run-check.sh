# Needs tmp_head/rms_norm_head.cu = git show e0b5179:lib/kernels/rms_norm.cu (or the commit before the diff is applied), and the diff applied to lib/kernels/rms_norm.cu.
nvcc -O3 -std=c++17 -Ilib -arch=sm_90 -Dmatquant=matquant_head -c tmp_head/rms_norm_head.cu -o /tmp/head.o 2>&1 | grep -v Wno &
nvcc -O3 -std=c++17 -Ilib -arch=sm_90 -c lib/kernels/rms_norm.cu -o /tmp/new.o 2>&1 | grep -v Wno &
nvcc -O3 -std=c++17 -Ilib -arch=sm_90 -c results/bench/2026-12-02-s29/residual-preload/check_against_head.cu -o /tmp/check.o 2>&1 | grep -v Wno &
wait
nvcc -arch=sm_90 /tmp/check.o /tmp/new.o /tmp/head.o -o /tmp/check && /tmp/check | tee $OUT/check.log
