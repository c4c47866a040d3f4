# binding.gyp — the CPU-only build of rnnx.node, used by prebuildify (`npm run prebuild`) and by the
# install-time fallback (`node-gyp-build` → `node-gyp rebuild` when no prebuilt binary fits).
# CMakeLists.txt builds the same thing (plus CUDA) for `npm run build:native`.
#
# Sources come from native/sources.json (the single list) through scripts/list-sources.mjs.
# gyp sets compiler flags per target, not per file, so every ISA group is its own static library
# with its own flags, linked into `rnnx`. Everything outside those groups is compiled for the
# baseline (plain x86-64 / armv8-a), so the binary loads on any CPU of its architecture; the
# dispatcher picks the fastest compiled-in kernels at run time (RNNX_HAVE_<ISA> tells it which
# groups were compiled). A group that is empty gets no target at all (`rnnx_has_*` below), so
# groups can be declared in sources.json before their files exist.
{
  'variables': {
    'rnnx_has_avx2%': '<!(node scripts/list-sources.mjs --nonempty cpu_avx2)',
    'rnnx_has_avx512%': '<!(node scripts/list-sources.mjs --nonempty cpu_avx512)',
    'rnnx_has_neon%': '<!(node scripts/list-sources.mjs --nonempty cpu_neon)',
  },
  'target_defaults': {
    'include_dirs': [
      'native/include',
      'native/src',
    ],
    'defines': [
      'NAPI_VERSION=8',
      'NAPI_CPP_EXCEPTIONS',
      'NODE_ADDON_API_DISABLE_DEPRECATED',
    ],
    # node's common.gypi turns exceptions and RTTI off and picks gnu++17; the core throws
    # rnnx::Error and node-addon-api runs with C++ exceptions, so both are switched back on.
    'cflags!': [ '-fno-exceptions', '-fno-rtti' ],
    'cflags_cc!': [ '-fno-exceptions', '-fno-rtti', '-std=gnu++17' ],
    'cflags': [ '-fPIC', '-fvisibility=hidden' ],
    'cflags_cc': [ '-std=c++17', '-fexceptions', '-frtti', '-fvisibility-inlines-hidden' ],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'GCC_ENABLE_CPP_RTTI': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',  # -fvisibility=hidden
      'MACOSX_DEPLOYMENT_TARGET': '11.0',
    },
    'msvs_settings': {
      'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': [ '/std:c++17' ] },
    },
    'configurations': {
      'Release': {
        'cflags': [ '-O3' ],
        'cflags_cc': [ '-O3' ],
        'ldflags': [ '-s' ],
        'xcode_settings': { 'GCC_OPTIMIZATION_LEVEL': '3', 'DEAD_CODE_STRIPPING': 'YES' },
      },
    },
  },
  'targets': [
    {
      # node-gyp-build finds build/Release/rnnx.node; prebuildify copies it to prebuilds/.
      'target_name': 'rnnx',
      'sources': [
        '<!@(node scripts/list-sources.mjs core cpu_scalar cuda_stub addon)',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
      ],
      'conditions': [
        [ 'target_arch=="x64" and rnnx_has_avx2==1', {
          'dependencies': [ 'rnnx_cpu_avx2' ],
          'defines': [ 'RNNX_HAVE_AVX2=1' ],
        } ],
        [ 'target_arch=="x64" and rnnx_has_avx512==1', {
          'dependencies': [ 'rnnx_cpu_avx512' ],
          'defines': [ 'RNNX_HAVE_AVX512=1' ],
        } ],
        [ 'target_arch=="arm64" and rnnx_has_neon==1', {
          'dependencies': [ 'rnnx_cpu_neon' ],
          'defines': [ 'RNNX_HAVE_NEON=1' ],
        } ],
      ],
    },
  ],
  'conditions': [
    [ 'target_arch=="x64" and rnnx_has_avx2==1', {
      'targets': [ {
        'target_name': 'rnnx_cpu_avx2',
        'type': 'static_library',
        'sources': [ '<!@(node scripts/list-sources.mjs cpu_avx2)' ],
        'cflags': [ '-mavx2', '-mfma' ],
        'xcode_settings': { 'OTHER_CFLAGS': [ '-mavx2', '-mfma' ] },
        'msvs_settings': { 'VCCLCompilerTool': { 'EnableEnhancedInstructionSet': '5' } },  # /arch:AVX2
      } ],
    } ],
    [ 'target_arch=="x64" and rnnx_has_avx512==1', {
      'targets': [ {
        'target_name': 'rnnx_cpu_avx512',
        'type': 'static_library',
        'sources': [ '<!@(node scripts/list-sources.mjs cpu_avx512)' ],
        # -Wno-(maybe-)uninitialized: GCC 12's avx512fintrin.h trips them in _mm512_reduce_*
        # (the `__Y = __Y` idiom, GCC bug 105593), hundreds of false warnings per file.
        'cflags': [ '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma',
                    '-Wno-uninitialized', '-Wno-maybe-uninitialized' ],
        'xcode_settings': {
          'OTHER_CFLAGS': [ '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma' ],
        },
        'msvs_settings': { 'VCCLCompilerTool': { 'AdditionalOptions': [ '/arch:AVX512' ] } },
      } ],
    } ],
    [ 'target_arch=="arm64" and rnnx_has_neon==1', {
      # NEON is part of the arm64 baseline: no extra flags.
      'targets': [ {
        'target_name': 'rnnx_cpu_neon',
        'type': 'static_library',
        'sources': [ '<!@(node scripts/list-sources.mjs cpu_neon)' ],
      } ],
    } ],
  ],
}
