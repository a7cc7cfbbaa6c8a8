function (doc) {
  var element = doc["WMCore.WorkQueue.DataStructs.WorkQueueElement.WorkQueueElement"];
  if (element) {
    emit(element.RequestName, null);
  }
}
