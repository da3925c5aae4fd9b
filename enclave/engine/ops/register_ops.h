// The list of op families, one registration function per source file. Adding
// an op means adding its kernel file and, if it is a new file, one line here
// and in the matching Register*Ops function.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_REGISTER_OPS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_REGISTER_OPS_H_

#include "enclave/engine/kernel.h"

namespace serdab::engine {

// Reference kernels (enclave/engine/ops/*.cc).
void RegisterActivationOps(OpRegistry* registry);     // Relu, Clip, Sigmoid, ...
void RegisterBinaryOps(OpRegistry* registry);         // Add, ..., Pow, PRelu, Equal, Min, Max, Sum
void RegisterUnaryOps(OpRegistry* registry);          // Exp, Log, Sqrt, ..., Elu, Selu, Softplus
void RegisterConvOps(OpRegistry* registry);           // Conv, ConvTranspose
void RegisterMatMulOps(OpRegistry* registry);         // Gemm, MatMul
void RegisterNormalizationOps(OpRegistry* registry);  // BatchNormalization, Softmax, Hardmax, ...
void RegisterPoolingOps(OpRegistry* registry);        // MaxPool, AveragePool, Global*, ReduceMean
void RegisterReduceOps(OpRegistry* registry);         // ReduceSum, ReduceMax, ReduceL2, ...
void RegisterShapeOps(OpRegistry* registry);          // Reshape, Transpose, ..., Tile, TopK
void RegisterResizeOps(OpRegistry* registry);         // Resize, Upsample, Pad

// Calls every Register*Ops above.
void RegisterReferenceOps(OpRegistry* registry);

// Optimised kernels (enclave/engine/optimized/*.cc).
void RegisterOptimizedConvOps(OpRegistry* registry);         // Conv
void RegisterOptimizedMatMulOps(OpRegistry* registry);       // Gemm, MatMul
void RegisterOptimizedElementwiseOps(OpRegistry* registry);  // activations, binary ops
void RegisterOptimizedPoolingOps(OpRegistry* registry);      // pooling, ReduceMean

// Calls every RegisterOptimized*Ops above.
void RegisterOptimizedOps(OpRegistry* registry);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_REGISTER_OPS_H_
