/* The faceid commands; each takes the arguments after its name and returns the exit status. */
#ifndef FID_CLI_COMMANDS_H
#define FID_CLI_COMMANDS_H

int fid_cli_detect(int argc, char **argv);
int fid_cli_embed(int argc, char **argv);
int fid_cli_verify(int argc, char **argv);
int fid_cli_enroll(int argc, char **argv);
int fid_cli_enroll_dir(int argc, char **argv);
int fid_cli_identify(int argc, char **argv);
int fid_cli_calibrate(int argc, char **argv);
int fid_cli_live(int argc, char **argv);
/* serve: the HTTP API (src/server/) */
int fid_cli_serve(int argc, char **argv);
/* list | show | remove | rename */
int fid_cli_review(const char *cmd, int argc, char **argv);
int fid_cli_manage(const char *command, int argc, char **argv);

#endif
