/* What a build without ONNX import (FID_WITH_ONNX=OFF) or HDF5 (FID_WITH_HDF5=OFF) answers when
 * such a file is asked for: FID_ERR_UNSUPPORTED naming the file and the build option. */
#include "nn/net.h"
#include "util/error.h"

#ifndef FID_HAVE_ONNX
fid_status fid__load_onnx(const char *path, const fid_net_params *p, fid__graph **out) {
    (void)p, (void)out;
    return fid__fail(FID_ERR_UNSUPPORTED, "%s: this faceid was built without ONNX import (FID_WITH_ONNX=OFF)", path);
}
#endif

#ifndef FID_HAVE_HDF5
fid_status fid__load_keras_vggface_resnet50(const char *path, const fid_net_params *p, fid__graph **out) {
    (void)p, (void)out;
    return fid__fail(FID_ERR_UNSUPPORTED, "%s: this faceid was built without Keras .h5 support (FID_WITH_HDF5=OFF)",
                     path);
}
#endif

const char *fid_build_features(void) {
    return
#ifdef FID_HAVE_ONNX
        "+onnx"
#else
        "-onnx"
#endif
#ifdef FID_HAVE_HDF5
        " +keras-h5"
#else
        " -keras-h5"
#endif
#ifdef FID_HAVE_LIBPQ
        " +postgresql";
#else
        " -postgresql";
#endif
}
