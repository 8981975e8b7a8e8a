# Included right after llama.cpp's project() inside llama-cpp-python's build (scripts/bootstrap passes
# -DCMAKE_PROJECT_llama.cpp_INCLUDE=<this file>). llama-cpp-python forces llama.cpp's `common` library (and its
# HTTP client) on for its multimodal library; with that off (-DLLAVA_BUILD=OFF) nothing loads `common` (the wheel
# does not ship it), and it is half of the compile time. A normal variable here wins over the cached one (CMP0077).
set(LLAMA_BUILD_COMMON OFF)
