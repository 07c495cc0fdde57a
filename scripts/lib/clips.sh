# Test and demo media made from face-api's sample photos (installed by scripts/setup): a clip that
# slowly zooms on one face of a photo. Nothing is downloaded. Source this file; needs $bin (the
# faceid binary) and $samples (the sample photo directory).

# make_clip PHOTO FACE OUT SECONDS [ZOOM_START]: FACE is the 1-based index in the order of face-api's SSD
# (`faceid detect --detector ssd --tile-face 0`), so clips stay the same whatever the default detector.
make_clip() {
  local photo=$1 face=$2 out=$3 seconds=$4 zoom=${5:-1} box side cx cy
  box=$("$bin" detect --json --detector ssd --tile-face 0 "$samples/$photo" | /usr/bin/python3 -c "import json,sys; b=json.load(sys.stdin)['files'][0]['faces'][$face-1]['box']; print(' '.join(str(int(v)) for v in b))")
  set -- $box
  side=$(( ($3 > $4 ? $3 : $4) * 2 )); cx=$(( $1 + $3 / 2 - side / 2 )); cy=$(( $2 + $4 / 2 - side / 2 ))
  [ $cx -lt 0 ] && cx=0; [ $cy -lt 0 ] && cy=0
  ffmpeg -v error -y -loop 1 -i "$samples/$photo" \
    -vf "crop=$side:$side:$cx:$cy,scale=480:480,zoompan=z='$zoom+0.0015*on':d=1:s=480x480:fps=25,setsar=1" \
    -t "$seconds" -c:v libx264 -pix_fmt yuv420p "$out"
}

# fit_clip IN OUT: the clip at 640x360, 25 fps (letterboxed), so clips of any source concatenate.
fit_clip() {
  ffmpeg -v error -y -i "$1" -an -vf "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=25,setsar=1" \
    -c:v libx264 -pix_fmt yuv420p "$2"
}
