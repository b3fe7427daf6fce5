/*
 * linkcheck.c — an empty program linked with every object of one mqbridge library
 * (whole archive) and only the dependencies that library declares in CMake. If any of
 * its files calls into a library it does not declare (a layer climbed silently), the
 * link fails and so does the build (tests/CMakeLists.txt, linkcheck_*).
 */
int main(void)
{
	return 0;
}
